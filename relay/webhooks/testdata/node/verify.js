// Verifies webhook requests with the standardwebhooks package, the
// specification's TypeScript library, for relay/webhooks tests. Reads a JSON
// array of {secret, headers, body} on stdin and prints a JSON array with "ok"
// or the library's error message for each.
const { Webhook } = require("standardwebhooks");

let input = "";
process.stdin.on("data", (chunk) => (input += chunk));
process.stdin.on("end", () => {
  const results = JSON.parse(input).map((c) => {
    try {
      new Webhook(c.secret).verify(c.body, c.headers);
      return "ok";
    } catch (e) {
      return String(e.message || e);
    }
  });
  process.stdout.write(JSON.stringify(results));
});
