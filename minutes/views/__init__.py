"""The minutes' pages, one module per part: HTTP plumbing only (one service or selector
each, communities.http's helpers for who may see what)."""
