"""Plumbing shared by every REST API endpoint (error format now; base viewsets arrive with the API)."""
