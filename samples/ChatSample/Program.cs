using ChatSample;
using ChatSample.Launcher;

// `dotnet run -- --instances 2` starts a launcher that runs this same program as two child servers;
// `--instances 1` or `--instance N` runs one server in this process. See README.md.
ChatSampleCommandLine commandLine;
try
{
    commandLine = ChatSampleCommandLine.Parse(args);
}
catch (ArgumentException ex)
{
    Console.Error.WriteLine(ex.Message);
    Console.Error.WriteLine("Usage: ChatSample [--instances N | --instance N [--port P]] [--base-port B] [--db FILE]");
    return 2;
}

if (commandLine.IsLauncher)
{
    return await MultiInstanceLauncher.RunAsync(commandLine);
}

await ChatServer.RunAsync(commandLine);
return 0;
