// Compiled (not run) by the types test: what an application writes, checked against index.d.ts.
import * as signalR from "@microsoft/signalr";
import { MessagePackHubProtocol } from "@microsoft/signalr-protocol-msgpack";
import {
  RESUME_QUERY_PARAMETER,
  getSqliteBackplaneResumeState,
  withSqliteBackplaneResume,
  type SqliteBackplaneResumeOptions,
  type SqliteBackplaneResumeState,
} from "@sqlite-backplane/signalr-resume";

const options: SqliteBackplaneResumeOptions = { onGap: (reason: string) => console.log(reason) };
const builder: signalR.HubConnectionBuilder = withSqliteBackplaneResume(
  new signalR.HubConnectionBuilder().withUrl("/hubs/chat").withHubProtocol(new MessagePackHubProtocol()).withAutomaticReconnect(),
  options,
);
withSqliteBackplaneResume(new signalR.HubConnectionBuilder().withUrl("/hubs/chat"));
const connection: signalR.HubConnection = builder.build();
const state: SqliteBackplaneResumeState | undefined = getSqliteBackplaneResumeState(connection);
const position: number | undefined = state?.position;
const token: string | null | undefined = state?.token;
const parameter: "sqlitebackplane-resume" = RESUME_QUERY_PARAMETER;
console.log(position, token, parameter);

// @ts-expect-error onGap takes a function
withSqliteBackplaneResume(builder, { onGap: "reload" });
// @ts-expect-error the first argument is a HubConnectionBuilder
withSqliteBackplaneResume(connection);
