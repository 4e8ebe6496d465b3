"""`daj executor`: a stateless service that runs sandbox jobs for the selection service (app.py), so that the API
process holds none of the sandbox's privileges and execution scales past one machine."""
