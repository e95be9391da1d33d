return await SqliteBackplane.TestServer.TestServerApp.RunAsync(args);
