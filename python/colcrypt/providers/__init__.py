"""Key providers: where key-encryption keys (KEKs) live and how data keys are wrapped under them."""
