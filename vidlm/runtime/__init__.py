"""How every run behaves: final files written atomically (`atomic`), run records with secrets redacted (`runinfo`),
progress bars (`progress`), ranks and processes (`launch`), one run per output folder (`run_lock`)."""
