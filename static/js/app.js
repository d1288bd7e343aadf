// Backorder Desk: small progressive enhancements. Every page works without this file.
// Keyboard: j/k move through the queue, Enter opens, x ticks, / searches, u goes back to the
// queue, ? shows the shortcuts; on a packet page one key picks each decision and a opens the
// one-step accept (its dialog confirms with Enter). A queue page starts with its first row selected.
(function () {
  "use strict";

  function typing(event) {
    const el = event.target;
    return el.isContentEditable || ["INPUT", "TEXTAREA", "SELECT"].includes(el.tagName);
  }

  function rows() {
    return Array.from(document.querySelectorAll("#case-rows tbody tr[data-href]"));
  }

  function select(index) {
    const all = rows();
    if (!all.length) return;
    const i = Math.max(0, Math.min(index, all.length - 1));
    all.forEach((row, n) => row.classList.toggle("selected", n === i));
    all[i].scrollIntoView({ block: "nearest" });
  }

  function selectedIndex() {
    return rows().findIndex((row) => row.classList.contains("selected"));
  }

  function decisionKeys() {
    return Array.from(document.querySelectorAll("[data-decision-form] [data-shortcut]"));
  }

  function showShortcuts() {
    const dialog = document.getElementById("shortcuts");
    if (!dialog) return;
    const list = dialog.querySelector("[data-decision-keys]");
    list.replaceChildren();
    const keys = decisionKeys();
    keys.forEach((label) => {
      const dt = document.createElement("dt");
      const kbd = document.createElement("kbd");
      kbd.textContent = label.dataset.shortcut;
      dt.append(kbd);
      const dd = document.createElement("dd");
      dd.textContent = label.dataset.shortcutLabel;
      list.append(dt, dd);
    });
    if (!keys.length) {
      const dd = document.createElement("dd");
      dd.textContent = "Open a case to see them.";
      list.append(dd);
    }
    if (!dialog.open) dialog.showModal();
  }

  function openAccept() {
    const dialog = document.getElementById("accept-dialog");
    if (!dialog) return false;
    if (dialog.open && !dialog.matches(":modal")) dialog.close(); // opened in the page by ?accept=1
    if (!dialog.open) dialog.showModal();
    const confirm = dialog.querySelector("[data-confirm-accept]");
    if (confirm) confirm.focus();
    return true;
  }

  function pickDecision(key) {
    const label = decisionKeys().find((el) => el.dataset.shortcut === key);
    if (!label) return false;
    const radio = label.querySelector("input[type=radio]");
    radio.checked = true;
    const note = label.closest("form").querySelector("textarea");
    label.closest("section").scrollIntoView({ block: "nearest" });
    if (note) note.focus();
    return true;
  }

  document.documentElement.classList.add("js"); // the phone layout folds the nav only when this file runs

  function selectFirst() {
    if (rows().length && selectedIndex() < 0) select(0);
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", selectFirst);
  else selectFirst();
  document.addEventListener("htmx:afterSwap", selectFirst);

  document.addEventListener("keydown", function (event) {
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    if (event.key === "Escape" && typing(event)) {
      event.target.blur();
      return;
    }
    if (typing(event)) return;
    const key = event.key;
    if (key === "?") {
      showShortcuts();
    } else if (key === "j") {
      select(selectedIndex() + 1);
    } else if (key === "k") {
      select(selectedIndex() < 0 ? 0 : selectedIndex() - 1);
    } else if (key === "Enter" && selectedIndex() >= 0) {
      window.location.href = rows()[selectedIndex()].dataset.href;
    } else if (key === "x" && selectedIndex() >= 0) {
      const box = rows()[selectedIndex()].querySelector("input[type=checkbox]");
      if (box && !box.disabled) box.checked = !box.checked;
    } else if (key === "/") {
      const search = document.querySelector("[data-search]");
      if (!search) return;
      search.focus();
      search.select();
    } else if (key === "u") {
      const back = document.querySelector("[data-shortcut-back]");
      if (!back) return;
      window.location.href = back.href;
    } else if (key === "a" && openAccept()) {
      // the dialog's confirm button has the focus: Enter accepts, Esc closes
    } else if (!pickDecision(key)) {
      return;
    }
    event.preventDefault();
  });

  document.addEventListener("click", function (event) {
    if (event.target.closest("[data-open-accept]") && openAccept()) {
      event.preventDefault(); // the link's page (?accept=1) is for browsers without this file
      return;
    }
    const toggle = event.target.closest("[data-menu-toggle]");
    if (toggle) {
      const open = toggle.closest(".topbar").classList.toggle("menu-open");
      toggle.setAttribute("aria-expanded", open ? "true" : "false");
      return;
    }
    const opener = event.target.closest("[data-open-dialog]");
    if (opener) {
      const dialog = document.getElementById(opener.dataset.openDialog);
      if (dialog && !dialog.open) dialog.showModal();
      return;
    }
    if (event.target.closest("[data-show-shortcuts]")) {
      showShortcuts();
      return;
    }
    const choose = event.target.closest("[data-choose]");
    if (choose) {
      const label = decisionKeys().find((el) => el.querySelector(`input[value="${choose.dataset.choose}"]`));
      if (label) {
        event.preventDefault();
        pickDecision(label.dataset.shortcut);
      }
      return;
    }
    const all = event.target.closest("[data-check-all]");
    if (all) {
      all.closest("table").querySelectorAll("tbody input[type=checkbox]:not(:disabled)").forEach((box) => {
        box.checked = all.checked;
      });
      return;
    }
    // A click on a queue row (outside its links and boxes) selects it.
    const row = event.target.closest("#case-rows tbody tr[data-href]");
    if (row && !event.target.closest("a, input, label, button")) {
      select(rows().indexOf(row));
    }
  });
})();
