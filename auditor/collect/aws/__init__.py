"""AWS collection: resource types declared as data (`specs.py`), run by one engine
(`engine.py`), over the accounts and regions the scope resolves (`scope.py`), with the
read-only IAM policy derived from the same declarations (`permissions.py`)."""
