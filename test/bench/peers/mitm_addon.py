"""mitmproxy addon for the Warden benchmark (test/bench).

- Connects bench.test and *.bench.test to the local upstream given by --set bench_upstream=ADDR:PORT,
  keeping the original SNI and Host (there is no DNS for these names).
- Streams Server-Sent Events instead of buffering the whole response (what anyone proxying an
  LLM streaming API through mitmproxy configures).
"""
from mitmproxy import ctx


class BenchConnectTo:
    def load(self, loader):
        loader.add_option("bench_upstream", str, "", "ADDR:PORT that bench.test and *.bench.test connect to")

    def server_connect(self, data):
        target = ctx.options.bench_upstream
        if not target or not data.server.address:
            return
        host = str(data.server.address[0])
        if host == "bench.test" or host.endswith(".bench.test"):
            if not data.server.sni:
                data.server.sni = host
            addr, port = target.rsplit(":", 1)
            data.server.address = (addr, int(port))

    def responseheaders(self, flow):
        if flow.response.headers.get("content-type", "").startswith("text/event-stream"):
            flow.response.stream = True


addons = [BenchConnectTo()]
