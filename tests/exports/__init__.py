"""Tests for app.exports."""
