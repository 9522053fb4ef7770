"""An OCI distribution (registry v2) client: authentication, pull and push of model artifacts."""
