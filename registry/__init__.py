"""The device registry's domain: onboarding inputs (TR005 codes, CSV), validation against the
catalogue, and ChirpStack provisioning. Storage is in `storage/`, HTTP in `api/`."""
