// Unit tests of the resume helper without a server: the protocol wrapper fed server frames (JSON and MessagePack),
// the URL rewrite, and a real HubConnection over a scripted in-memory WebSocket (reconnects, manual restart, gap).
// Run: npm test (node --test).
import { test } from "node:test";
import assert from "node:assert/strict";
import * as signalR from "@microsoft/signalr";
import { MessagePackHubProtocol } from "@microsoft/signalr-protocol-msgpack";
import resume from "../signalr-resume.js";
import { withSqliteBackplaneResume, getSqliteBackplaneResumeState, RESUME_QUERY_PARAMETER } from "../index.mjs";

const { ResumeState, wrapProtocol, withResumeParameter } = resume._internals;

const invocation = (target, args, invocationId) => ({ type: signalR.MessageType.Invocation, target, arguments: args, invocationId, headers: {} });
const pos = (id) => invocation("sqlitebackplane:pos", [id]);
const token = (value, position) => invocation("sqlitebackplane:token", [value, position]);
const gap = (reason) => invocation("sqlitebackplane:gap", [reason]);
const send = (text) => invocation("Receive", [text]);

/** Encodes server frames with `protocol` and parses them through the wrapper, as HubConnection does per receive. */
function feed(protocol, state, ...messages) {
  const wrapped = wrapProtocol(protocol, state);
  const parsed = [];
  for (const message of messages) {
    parsed.push(...wrapped.parseMessages(protocol.writeMessage(message), signalR.NullLogger.instance));
  }
  return parsed;
}

for (const [name, makeProtocol] of [["JSON", () => new signalR.JsonHubProtocol()], ["MessagePack", () => new MessagePackHubProtocol()]]) {
  test(`${name}: a marker then its message commits the marker's position`, () => {
    const state = new ResumeState();
    const parsed = feed(makeProtocol(), state, token("t0", 10), pos(11), send("a"), pos(14), send("b"));
    assert.equal(state.position, 14);
    assert.equal(state.token, "t0");
    assert.equal(state.ticket(), "t0.14");
    // Everything passes through (stateful reconnect counts every invocation); the app only has handlers for Receive.
    assert.deepEqual(parsed.map((m) => m.target), ["sqlitebackplane:token", "sqlitebackplane:pos", "Receive", "sqlitebackplane:pos", "Receive"]);
  });

  test(`${name}: a marker whose message never arrived is not committed, so the message is replayed`, () => {
    const state = new ResumeState();
    feed(makeProtocol(), state, token("t0", 10), pos(11), send("a"), pos(12));
    assert.equal(state.position, 11);
    assert.equal(state.ticket(), "t0.11");
    state.beginConnect();
    // The next connection's first message without its own marker must not commit the void marker 12.
    feed(makeProtocol(), state, send("not from the log"));
    assert.equal(state.position, 11);
  });

  test(`${name}: a client-result invocation between a marker and its message commits nothing`, () => {
    const state = new ResumeState();
    feed(makeProtocol(), state, token("t0", 5), pos(6), invocation("GetAnswer", [1], "42"));
    assert.equal(state.position, 5, "an invocation with an invocation id is never replayed and must not commit");
    feed(makeProtocol(), state, send("the marked message"));
    assert.equal(state.position, 6);
  });

  test(`${name}: the token's position only moves forward; a gap clears the token until the next one`, () => {
    const state = new ResumeState();
    feed(makeProtocol(), state, token("t0", 10), pos(20), send("a"), token("t1", 15));
    assert.equal(state.position, 20);
    assert.equal(state.token, "t1");
    feed(makeProtocol(), state, gap("expired"));
    assert.equal(state.ticket(), "1");
    feed(makeProtocol(), state, token("t2", 30), pos(31), send("b"));
    assert.equal(state.ticket(), "t2.31");
  });
}

test("a malformed marker is ignored with a warning", () => {
  const state = new ResumeState();
  const warnings = [];
  const logger = { log: (level, text) => level >= signalR.LogLevel.Warning && warnings.push(text) };
  const protocol = new signalR.JsonHubProtocol();
  const wrapped = wrapProtocol(protocol, state);
  wrapped.parseMessages(protocol.writeMessage(token("t0", 3)), logger);
  wrapped.parseMessages(protocol.writeMessage(pos("x")), logger);
  wrapped.parseMessages(protocol.writeMessage(send("a")), logger);
  assert.equal(state.position, 3);
  assert.equal(warnings.length, 1);
  assert.match(warnings[0], /sqlitebackplane:pos/);
});

test("the wrapper keeps the inner protocol's name, version and transfer format", () => {
  const inner = new MessagePackHubProtocol();
  const wrapped = wrapProtocol(inner, new ResumeState());
  assert.equal(wrapped.name, "messagepack");
  assert.equal(wrapped.version, inner.version);
  assert.equal(wrapped.transferFormat, signalR.TransferFormat.Binary);
});

test("the URL rewrite replaces the parameter and keeps the rest", () => {
  assert.equal(withResumeParameter("http://h/hub", "1"), "http://h/hub?sqlitebackplane-resume=1");
  assert.equal(withResumeParameter("http://h/hub?user=a", "1"), "http://h/hub?user=a&sqlitebackplane-resume=1");
  assert.equal(withResumeParameter("http://h/hub?sqlitebackplane-resume=1&user=a", "tok-_~.12"), "http://h/hub?user=a&sqlitebackplane-resume=tok-_~.12");
  assert.equal(withResumeParameter("/hub?x=1#f", "t.3"), "/hub?x=1&sqlitebackplane-resume=t.3#f");
  assert.equal(RESUME_QUERY_PARAMETER, "sqlitebackplane-resume");
});

/**
 * A WebSocket the test plays the server on: it completes the SignalR handshake and sends the frames the test gives it.
 * The SignalR client creates one per transport connection; every instance and its URL is recorded.
 */
class ScriptedWebSocket {
  static CONNECTING = 0;
  static OPEN = 1;
  static CLOSING = 2;
  static CLOSED = 3;
  static instances = [];
  static onHandshake = () => {};

  constructor(url) {
    this.url = url;
    this.readyState = ScriptedWebSocket.CONNECTING;
    this.binaryType = "arraybuffer";
    ScriptedWebSocket.instances.push(this);
    setTimeout(() => {
      this.readyState = ScriptedWebSocket.OPEN;
      this.onopen?.({});
    });
  }

  send(data) {
    if (typeof data === "string" && data.includes('"protocol"')) {
      setTimeout(() => {
        this.onmessage?.({ data: "{}\x1e" });
        ScriptedWebSocket.onHandshake(this);
      });
    }
  }

  /** Sends server frames (JSON protocol). */
  serve(...messages) {
    const protocol = new signalR.JsonHubProtocol();
    this.onmessage?.({ data: messages.map((m) => protocol.writeMessage(m)).join("") });
  }

  close() {
    this.drop(1000);
  }

  /** The transport fails (no close handshake). */
  drop(code = 1006) {
    if (this.readyState === ScriptedWebSocket.CLOSED) return;
    this.readyState = ScriptedWebSocket.CLOSED;
    setTimeout(() => this.onclose?.({ code, reason: "", wasClean: code === 1000 }));
  }
}

function nextHandshake() {
  return new Promise((resolve) => (ScriptedWebSocket.onHandshake = resolve));
}

function buildConnection(options, configure = (b) => b) {
  ScriptedWebSocket.instances = [];
  const builder = configure(
    new signalR.HubConnectionBuilder()
      .withUrl("http://127.0.0.1:9/hubs/chat?user=alice", { transport: signalR.HttpTransportType.WebSockets, skipNegotiation: true, WebSocket: ScriptedWebSocket })
      .configureLogging(signalR.LogLevel.None),
  );
  withSqliteBackplaneResume(builder, options);
  const connection = builder.build();
  const received = [];
  connection.on("Receive", (text) => received.push(text));
  return { connection, received };
}

const resumeParameter = (socket) => new URL(socket.url).searchParams.get(RESUME_QUERY_PARAMETER);

test("a real HubConnection: automatic reconnect carries the ticket, reserved methods never reach the app, a gap is reported", async () => {
  const gaps = [];
  const { connection, received } = buildConnection({ onGap: (reason) => gaps.push({ reason, receivedBefore: received.length }) }, (b) => b.withAutomaticReconnect([0, 0, 0]));
  let handshake = nextHandshake();
  await connection.start();
  const first = await handshake;
  assert.equal(resumeParameter(first), "1");
  assert.equal(new URL(first.url).searchParams.get("user"), "alice");
  first.serve(token("tok0", 40), pos(41), send("m1"), pos(43), send("m2"), pos(44));

  const reconnected = () => new Promise((resolve) => connection.onreconnected(resolve));
  handshake = nextHandshake();
  let back = reconnected();
  first.drop();
  const second = await handshake;
  assert.equal(resumeParameter(second), "tok0.43", "the reconnect carries the token and the last fully received position (44's message never came)");
  await back;
  second.serve(pos(44), send("m3"), token("tok1", 44), pos(45), send("m4"));

  handshake = nextHandshake();
  back = reconnected();
  second.drop();
  const third = await handshake;
  await back;
  assert.equal(resumeParameter(third), "tok1.45");
  third.serve(gap("expired"), token("tok2", 90), pos(91), send("m5"));
  await new Promise((resolve) => setTimeout(resolve, 10));

  assert.deepEqual(received, ["m1", "m2", "m3", "m4", "m5"]);
  assert.deepEqual(gaps, [{ reason: "expired", receivedBefore: 4 }], "onGap runs once, in order, before the new connection's messages");
  assert.deepEqual(getSqliteBackplaneResumeState(connection), { token: "tok2", position: 91, connects: 3, resumes: 1, gaps: 1 });
  await connection.stop();
});

test("a real HubConnection: a manual start after close carries the ticket; a reconnect attempt that got a token but failed passes it on", async () => {
  const { connection, received } = buildConnection({}, (b) => b.withAutomaticReconnect([0, 0, 0]));
  let handshake = nextHandshake();
  await connection.start();
  const first = await handshake;
  first.serve(token("tok0", 7), pos(8), send("a"));
  await connection.stop();

  handshake = nextHandshake();
  await connection.start();
  const second = await handshake;
  assert.equal(resumeParameter(second), "tok0.8");
  second.serve(token("tok1", 8));

  // The transport drops; the first reconnect attempt gets a replayed message and a token, then fails before it
  // completes. The next attempt must present the newer token and position, not the ones of the dropped connection.
  const attempts = [];
  let secondAttempt;
  const secondAttemptReady = new Promise((resolve) => (secondAttempt = resolve));
  ScriptedWebSocket.onHandshake = (socket) => {
    attempts.push(socket);
    if (attempts.length === 1) {
      socket.serve(pos(9), send("b"), token("tok2", 9));
      socket.drop();
    } else {
      secondAttempt(socket);
    }
  };
  const reconnected = new Promise((resolve) => connection.onreconnected(resolve));
  second.drop();
  const retry = await secondAttemptReady;
  assert.equal(resumeParameter(attempts[0]), "tok1.8");
  assert.equal(resumeParameter(retry), "tok2.9");
  retry.serve(token("tok3", 9), pos(10), send("c"));
  await reconnected;
  await new Promise((resolve) => setTimeout(resolve, 10));
  assert.deepEqual(received, ["a", "b", "c"]);
  await connection.stop();
});

test("a real HubConnection: the ticket stays on the URL a retry policy switches to (another server)", async () => {
  let connection;
  const { connection: built } = buildConnection({}, (b) =>
    b.withAutomaticReconnect({
      nextRetryDelayInMilliseconds: (retry) => {
        // As the chat sample does: from the second attempt on, try the other server.
        if (retry.previousRetryCount > 0 && connection.state === signalR.HubConnectionState.Reconnecting) {
          connection.baseUrl = "http://127.0.0.2:9/hubs/chat?user=alice";
        }
        return 0;
      },
    }),
  );
  connection = built;
  let handshake = nextHandshake();
  await connection.start();
  const first = await handshake;
  first.serve(token("tok0", 3), pos(4), send("a"));
  const reconnected = new Promise((resolve) => connection.onreconnected(resolve));
  let attempts = 0;
  ScriptedWebSocket.onHandshake = (socket) => {
    if (++attempts === 1) socket.drop();
    else socket.serve(token("tok1", 4));
  };
  first.drop();
  await reconnected;
  const last = ScriptedWebSocket.instances.at(-1);
  assert.equal(new URL(last.url).host, "127.0.0.2:9");
  assert.equal(resumeParameter(last), "tok0.4");
  assert.equal(new URL(last.url).searchParams.getAll(RESUME_QUERY_PARAMETER).length, 1);
  await connection.stop();
});

test("misuse fails with a message that says what to do", () => {
  assert.throws(() => withSqliteBackplaneResume(undefined), /needs a HubConnectionBuilder/);
  assert.throws(() => withSqliteBackplaneResume(new signalR.HubConnectionBuilder(), { onGap: "reload" }), /onGap must be a function/);
  const builder = new signalR.HubConnectionBuilder().withUrl("http://127.0.0.1:9/hub");
  withSqliteBackplaneResume(builder);
  assert.throws(() => withSqliteBackplaneResume(builder), /already called/);
  // Without withHubProtocol the helper wraps @microsoft/signalr's JsonHubProtocol.
  const connection = builder.build();
  assert.ok(getSqliteBackplaneResumeState(connection));
  assert.equal(getSqliteBackplaneResumeState(new signalR.HubConnectionBuilder().withUrl("http://127.0.0.1:9/hub").build()), undefined);
});

test("in a page, the file defines the global sqliteBackplaneResume next to signalr.js's signalR", async () => {
  const { readFile } = await import("node:fs/promises");
  const vm = await import("node:vm");
  const { createRequire } = await import("node:module");
  const require = createRequire(import.meta.url);
  const signalRBrowserFile = require.resolve("@microsoft/signalr/dist/browser/signalr.js");
  const page = vm.createContext({ console, setTimeout, clearTimeout, fetch, AbortController, WebSocket: class {} });
  page.self = page;
  page.window = page;
  vm.runInContext(await readFile(signalRBrowserFile, "utf8"), page);
  vm.runInContext(await readFile(new URL("../signalr-resume.js", import.meta.url), "utf8"), page);
  assert.equal(typeof page.sqliteBackplaneResume.withSqliteBackplaneResume, "function");
  const connection = vm.runInContext(
    "sqliteBackplaneResume.withSqliteBackplaneResume(new signalR.HubConnectionBuilder().withUrl('http://127.0.0.1:9/hub')).build()",
    page,
  );
  assert.equal(page.sqliteBackplaneResume.getSqliteBackplaneResumeState(connection).token, null);
});

test("CommonJS: require of the package name gives the same API; without withHubProtocol the JSON protocol is wrapped", () => {
  return import("node:module").then(({ createRequire }) => {
    const require = createRequire(import.meta.url);
    const cjs = require("@sqlite-backplane/signalr-resume");
    assert.equal(cjs.withSqliteBackplaneResume, withSqliteBackplaneResume);
    const builder = new signalR.HubConnectionBuilder().withUrl("http://127.0.0.1:9/hub");
    let seen;
    const build = builder.build;
    // Look at the protocol the helper hands to HubConnectionBuilder.build (the builder's own stays unset).
    builder.build = function () {
      seen = this.protocol;
      return build.call(this);
    };
    cjs.withSqliteBackplaneResume(builder).build();
    assert.equal(seen.name, "json");
    assert.equal(builder.protocol, undefined);
  });
});
