"""Serve this folder for the page, and take the report the page POSTs to /report: print it and
exit (0 if the page finished, 1 if it failed). For headless runs (run-headless.sh)."""
import http.server
import sys
import threading

PORT = int(sys.argv[1]) if len(sys.argv) > 1 else 8765
outcome = {}


class Handler(http.server.SimpleHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0))).decode()
        self.send_response(204)
        self.end_headers()
        outcome["report"] = body
        threading.Thread(target=self.server.shutdown).start()

    def log_message(self, *args):
        pass


http.server.ThreadingHTTPServer.allow_reuse_address = True
with http.server.ThreadingHTTPServer(("127.0.0.1", PORT), Handler) as server:
    server.serve_forever()
report = outcome.get("report", "")
print(report)
sys.exit(0 if report.startswith("done\n") else 1)
