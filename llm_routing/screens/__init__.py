"""The operator console: key management, provider selection and the usage dashboard.

Server-rendered pages inside the Django admin (views wrapped in ``admin.site.admin_view``,
templates extending ``admin/base_site.html``). They live in ``llm_routing`` because this is
the one app allowed to import both ``tenants`` and ``usage``; each page only parses input,
calls a service or selector of those apps, and renders.
"""
