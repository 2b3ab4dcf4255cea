"""A fake torch next to the notebook: it must never be imported while grading (nor by pytest: it fails
loudly instead of exiting 0 like a real attack would)."""
raise SystemExit("attack: fake torch.py imported")
