"""promkit tracker: the multi-user web metrics service."""
