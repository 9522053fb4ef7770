"""The one generation path every API uses: a route parses and translates its request, opens a
`Generation` (lease, tool plan for the runner's capabilities, engine stream, usage, disconnect), and
encodes the chunks. Tool handling (native, prompted, constrained) is shared by all APIs here."""
