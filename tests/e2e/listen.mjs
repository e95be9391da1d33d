// Resume clients behind a front door, for the rolling-restart and chaos tests (tests/SqliteBackplane.Tests/Deployment):
// each user connects to the one URL with the repository's resume helper over its transport, joins group "room",
// reconnects for ever (automatically, or by starting again when a stopping server closed the connection), and keeps a
// tally of the worker's numbered messages (PacedSender: m<n> goes to All when n % 3 == 0, to "room" when n % 3 == 1,
// else to user number (n / 3) % <users>): how many arrived, the last number, how many addressed to it were skipped,
// how many came again or late, and the longest silence between two deliveries. The @microsoft/signalr client keeps the
// front door's affinity cookie in its own cookie jar.
// Usage: node listen.mjs <front door base url> <users> <user:transport:index>...   (transport: ws, sse or lp)
// Prints READY once every user joined the room. When a user receives "END" its tally is complete; once all are, the
// script prints "TALLY <user> <json>" per user, then PASS.
import { withSqliteBackplaneResume } from "@sqlite-backplane/signalr-resume";
import { fail, ok, run, signalR, step, withTimeout } from "./lib.mjs";

const [baseUrl, usersArgument, ...specs] = process.argv.slice(2);
const users = Number(usersArgument);
if (!baseUrl || !(users > 0) || specs.length === 0) {
  console.log("FAIL usage: node listen.mjs <front door base url> <users> <user:ws|sse|lp:index>...");
  process.exit(2);
}
const transports = { ws: signalR.HttpTransportType.WebSockets, sse: signalR.HttpTransportType.ServerSentEvents, lp: signalR.HttpTransportType.LongPolling };
/** How long after the last fault the END marker may take to arrive (the worker sends it when it stops). */
const END_TIMEOUT_MS = Number(process.env.E2E_LISTEN_TIMEOUT_MS || 300000);
const RETRY_MS = 100;

// @microsoft/signalr can throw from inside a transport's event handler ("stopConnection(...) was called while the
// connection is still in the connecting state", when a Server-Sent Events stream closes during the handshake): a browser
// logs that and goes on, Node would end the process and every client in it. Log it as a browser would, and go on.
let clientErrors = 0;
process.on("uncaughtException", (error) => {
  clientErrors++;
  console.log(`CLIENT-ERROR ${error?.message ?? error}`);
});

const isFor = (n, index) => n % 3 !== 2 || Math.floor(n / 3) % users === index;

function tally(listener, message) {
  if (message === "END") {
    listener.endedFlag = true;
    listener.end();
    return;
  }
  const n = Number(message.slice(1));
  const now = performance.now();
  const t = listener.tally;
  if (n <= t.last) {
    t.disorder++;
  } else {
    for (let skipped = t.last + 1; skipped < n; skipped++) if (isFor(skipped, listener.index)) t.missing++;
    t.last = n;
  }
  t.count++;
  if (listener.lastAt !== null) t.longestSilenceMs = Math.max(t.longestSilenceMs, now - listener.lastAt);
  listener.lastAt = now;
}

await run(async (connections) => {
  const listeners = [];
  await step(`connect ${specs.length} resume clients through ${baseUrl}`, async () => {
    for (const spec of specs) {
      const [user, transport, index] = spec.split(":");
      if (!transports[transport] || index === undefined) fail(`bad spec ${spec}: use user:ws|sse|lp:index`);
      const listener = {
        user, index: Number(index), lastAt: null, endedFlag: false,
        tally: { count: 0, last: -1, missing: 0, disorder: 0, longestSilenceMs: 0, reconnects: 0, gaps: [] },
      };
      listener.ended = new Promise((resolve) => (listener.end = resolve));
      const builder = new signalR.HubConnectionBuilder()
        .withUrl(`${baseUrl.replace(/\/$/, "")}/hubs/test?user=${encodeURIComponent(user)}`, { transport: transports[transport] })
        .withAutomaticReconnect({ nextRetryDelayInMilliseconds: () => RETRY_MS })
        .configureLogging(signalR.LogLevel.None);
      withSqliteBackplaneResume(builder, { onGap: (reason) => listener.tally.gaps.push(reason) });
      const connection = builder.build();
      listener.connection = connection;
      connection.on("Receive", (message) => tally(listener, message));
      connection.onreconnected(() => listener.tally.reconnects++);
      // A stopping server closes the connection without offering a reconnect: start again, through the front door.
      connection.onclose(async () => {
        listener.tally.reconnects++;
        while (!listener.stopping) {
          try {
            await connection.start();
            return;
          } catch {
            await new Promise((resolve) => setTimeout(resolve, RETRY_MS));
          }
        }
      });
      await withTimeout(connection.start(), `${user} to connect`);
      const id = await withTimeout(connection.invoke("GetConnectionId"), `${user} GetConnectionId`);
      await withTimeout(connection.invoke("AddToGroup", id, "room"), `${user} to join the room`);
      listeners.push(listener);
      connections.push({ stop: () => ((listener.stopping = true), connection.stop()) });
    }
    console.log("READY");
    ok(`${listeners.length} Node resume clients connected through the front door and joined the room`);
  }, Math.max(60000, specs.length * 5000));

  await step("receive until END", async () => {
    await Promise.allSettled(listeners.map((listener) => withTimeout(listener.ended, `${listener.user} to receive END`, END_TIMEOUT_MS)));
    for (const listener of listeners) {
      console.log(`TALLY ${listener.user} ${JSON.stringify({ ...listener.tally, ended: listener.endedFlag })}`);
    }
    const missingEnd = listeners.filter((listener) => !listener.endedFlag).map((listener) => listener.user);
    if (missingEnd.length > 0) fail(`no END for ${missingEnd.join(", ")}`);
    ok(`every Node client received END${clientErrors > 0 ? ` (${clientErrors} errors thrown inside the client, logged and ignored as a browser would)` : ""}`);
  }, END_TIMEOUT_MS + 60000);
});
