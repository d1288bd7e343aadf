"""How the store's values are written for people and read from them: names and sentences
(``text``: a variant named once, one full stop, "between X and Y"), money by currency
(``money``, Babel), phone numbers in E.164 (``phones``) and CSV cells a spreadsheet will not run as
formulas (``csv_safe``). Pure helpers: no models are read or written here."""
