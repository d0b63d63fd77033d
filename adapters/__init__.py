"""The outside world behind the application's ports: partners, mail, PDFs, stores."""
