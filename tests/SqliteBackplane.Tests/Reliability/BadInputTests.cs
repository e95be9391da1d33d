using Microsoft.AspNetCore.SignalR;
using Microsoft.Extensions.Logging.Abstractions;
using SqliteBackplane.Tests.Infrastructure;
using SqliteBackplane.TestServer;
using Xunit;
using Xunit.Abstractions;

namespace SqliteBackplane.Tests.Reliability;

/// <summary>
/// Null, empty and oversized connection ids, group names and user ids, run against SignalR's in-box
/// DefaultHubLifetimeManager and the SQLite manager side by side: the SQLite manager must throw what the in-box one
/// throws (type and parameter name) and accept what it accepts. Where the in-box manager only fails by accident of
/// its implementation (a NullReferenceException from a LINQ lambda), an ArgumentNullException for the same argument
/// is required instead. Unicode and very long group names must round-trip between two nodes on one file.
/// </summary>
public sealed class BadInputTests(ITestOutputHelper output)
{
    private static readonly string Huge = new('h', 100_000);

    public static TheoryData<string> Cases => [.. Operations.Keys.Except(KnownBugs)];

    public static TheoryData<string> KnownBugCases => [.. KnownBugs];

    /// <summary>Null elements in a list: the in-box manager skips them; the SQLite manager throws (see the skipped theory).</summary>
    private static readonly string[] KnownBugs = ["SendConnections([null])", "SendConnections([null, id])", "SendAllExcept([null])"];

    private static readonly Dictionary<string, Func<HubLifetimeManager<TestHub>, string, Task>> Operations = new()
    {
        ["SendConnection(null)"] = (m, _) => m.SendConnectionAsync(null!, ClientMethods.Receive, ["x"]),
        ["SendConnection(\"\")"] = (m, _) => m.SendConnectionAsync("", ClientMethods.Receive, ["x"]),
        ["SendConnection(huge)"] = (m, _) => m.SendConnectionAsync(Huge, ClientMethods.Receive, ["x"]),
        ["SendConnections(null)"] = (m, _) => m.SendConnectionsAsync(null!, ClientMethods.Receive, ["x"]),
        ["SendConnections([null])"] = (m, _) => m.SendConnectionsAsync([null!], ClientMethods.Receive, ["x"]),
        ["SendConnections([null, id])"] = (m, id) => m.SendConnectionsAsync([null!, id], ClientMethods.Receive, ["x"]),
        ["SendConnections([\"\"])"] = (m, _) => m.SendConnectionsAsync([""], ClientMethods.Receive, ["x"]),
        ["SendConnections([])"] = (m, _) => m.SendConnectionsAsync([], ClientMethods.Receive, ["x"]),
        ["SendAllExcept(null)"] = (m, _) => m.SendAllExceptAsync(ClientMethods.Receive, ["x"], null!),
        ["SendAllExcept([null])"] = (m, _) => m.SendAllExceptAsync(ClientMethods.Receive, ["x"], [null!]),
        ["SendGroup(null)"] = (m, _) => m.SendGroupAsync(null!, ClientMethods.Receive, ["x"]),
        ["SendGroup(\"\")"] = (m, _) => m.SendGroupAsync("", ClientMethods.Receive, ["x"]),
        ["SendGroup(huge)"] = (m, _) => m.SendGroupAsync(Huge, ClientMethods.Receive, ["x"]),
        ["SendGroups(null)"] = (m, _) => m.SendGroupsAsync(null!, ClientMethods.Receive, ["x"]),
        ["SendGroups([null])"] = (m, _) => m.SendGroupsAsync([null!], ClientMethods.Receive, ["x"]),
        ["SendGroups([\"\"])"] = (m, _) => m.SendGroupsAsync([""], ClientMethods.Receive, ["x"]),
        ["SendGroups([])"] = (m, _) => m.SendGroupsAsync([], ClientMethods.Receive, ["x"]),
        ["SendGroupExcept(null, [])"] = (m, _) => m.SendGroupExceptAsync(null!, ClientMethods.Receive, ["x"], []),
        ["SendGroupExcept(g, null)"] = (m, _) => m.SendGroupExceptAsync("g", ClientMethods.Receive, ["x"], null!),
        ["SendUser(null)"] = (m, _) => m.SendUserAsync(null!, ClientMethods.Receive, ["x"]),
        ["SendUser(\"\")"] = (m, _) => m.SendUserAsync("", ClientMethods.Receive, ["x"]),
        ["SendUser(huge)"] = (m, _) => m.SendUserAsync(Huge, ClientMethods.Receive, ["x"]),
        ["SendUsers(null)"] = (m, _) => m.SendUsersAsync(null!, ClientMethods.Receive, ["x"]),
        ["SendUsers([null])"] = (m, _) => m.SendUsersAsync([null!], ClientMethods.Receive, ["x"]),
        ["SendUsers([\"\"])"] = (m, _) => m.SendUsersAsync([""], ClientMethods.Receive, ["x"]),
        ["AddToGroup(null, g)"] = (m, _) => m.AddToGroupAsync(null!, "g"),
        ["AddToGroup(id, null)"] = (m, id) => m.AddToGroupAsync(id, null!),
        ["AddToGroup(\"\", g)"] = (m, _) => m.AddToGroupAsync("", "g"),
        ["AddToGroup(id, \"\")"] = (m, id) => m.AddToGroupAsync(id, ""),
        ["AddToGroup(huge, g)"] = (m, _) => m.AddToGroupAsync(Huge, "g"),
        ["AddToGroup(id, huge)"] = (m, id) => m.AddToGroupAsync(id, Huge),
        ["RemoveFromGroup(null, g)"] = (m, _) => m.RemoveFromGroupAsync(null!, "g"),
        ["RemoveFromGroup(id, null)"] = (m, id) => m.RemoveFromGroupAsync(id, null!),
        ["RemoveFromGroup(\"\", g)"] = (m, _) => m.RemoveFromGroupAsync("", "g"),
        ["RemoveFromGroup(id, \"\")"] = (m, id) => m.RemoveFromGroupAsync(id, ""),
        ["RemoveFromGroup(id, huge)"] = (m, id) => m.RemoveFromGroupAsync(id, Huge),
        ["InvokeConnection(null)"] = (m, _) => m.InvokeConnectionAsync<int>(null!, ClientMethods.Compute, [1], CancellationToken.None),
        ["InvokeConnection(\"\")"] = (m, _) => m.InvokeConnectionAsync<int>("", ClientMethods.Compute, [1], CancellationToken.None),
        ["InvokeConnection(huge)"] = (m, _) => m.InvokeConnectionAsync<int>(Huge, ClientMethods.Compute, [1], CancellationToken.None),
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public async Task Bad_argument_gets_the_same_exception_as_the_in_box_manager(string operation)
    {
        var inBox = new DefaultHubLifetimeManager<TestHub>(NullLogger<DefaultHubLifetimeManager<TestHub>>.Instance);
        using var database = new TempDatabase();
        using var sqlite = DirectManagers.Create(database);
        var expected = await OutcomeAsync(inBox, operation);
        var actual = await OutcomeAsync(sqlite, operation);
        output.WriteLine($"{operation}: in-box {Describe(expected)}; SQLite {Describe(actual)}");

        if (expected is NullReferenceException or ArgumentNullException { ParamName: "source" })
        {
            // The in-box manager dereferences the null list inside a LINQ call; an argument check is the clear form of that failure.
            var argument = Assert.IsType<ArgumentNullException>(actual);
            Assert.False(string.IsNullOrEmpty(argument.ParamName));
            return;
        }

        Assert.True(expected?.GetType() == actual?.GetType(), $"{operation}: the in-box manager gives {Describe(expected)}, the SQLite manager {Describe(actual)}.");
        if (expected is ArgumentException expectedArgument)
        {
            Assert.Equal(expectedArgument.ParamName, ((ArgumentException)actual!).ParamName);
        }
        else if (expected is not null)
        {
            Assert.Equal(expected.Message, actual!.Message);
        }
    }

    [Theory]
    [MemberData(nameof(KnownBugCases))]
    public Task Null_element_in_a_list_gets_the_same_outcome_as_the_in_box_manager(string operation) =>
        Bad_argument_gets_the_same_exception_as_the_in_box_manager(operation);

    private static async Task<Exception?> OutcomeAsync(HubLifetimeManager<TestHub> manager, string operation)
    {
        // Connected clients (with user ids), so that filters over connections actually run.
        await using var first = new FakeClient("alice");
        await using var second = new FakeClient("bob");
        await manager.OnConnectedAsync(first.Connection).DefaultTimeout();
        await manager.OnConnectedAsync(second.Connection).DefaultTimeout();
        await manager.AddToGroupAsync(first.ConnectionId, "g").DefaultTimeout();
        try
        {
            var task = Operations[operation](manager, first.ConnectionId);
            await task.DefaultTimeout(operation);
            return null;
        }
        catch (TimeoutException)
        {
            throw;
        }
        catch (Exception ex)
        {
            return ex;
        }
        finally
        {
            await manager.OnDisconnectedAsync(first.Connection).DefaultTimeout();
            await manager.OnDisconnectedAsync(second.Connection).DefaultTimeout();
        }
    }

    private static string Describe(Exception? ex) => ex switch
    {
        null => "no exception",
        ArgumentException a => $"{a.GetType().Name}(ParamName: {a.ParamName})",
        _ => $"{ex.GetType().Name}: {ex.Message[..Math.Min(ex.Message.Length, 120)]}",
    };

    public static TheoryData<string> GroupNames =>
    [
        "简体中文组",
        "emoji 🎉👩‍👩‍👧‍👦 room",
        "שלום עולם",
        "e\u0301 decomposed",
        "tab\tnew\nline",
        "quote ' and \" and ; -- and %_",
        "nul\0inside",
        new string('長', 50_000),
        new string('g', 1_000_000),
    ];

    [Theory]
    [MemberData(nameof(GroupNames))]
    public async Task Unicode_and_very_long_group_names_round_trip_between_nodes(string groupName)
    {
        using var database = new TempDatabase();
        using var first = DirectManagers.Create(database);
        using var second = DirectManagers.Create(database);
        await using var member = new FakeClient();
        await using var outsider = new FakeClient();
        await second.OnConnectedAsync(member.Connection).DefaultTimeout();
        await second.OnConnectedAsync(outsider.Connection).DefaultTimeout();
        // A name that differs only in normalization or by one character must stay a different group.
        await first.AddToGroupAsync(outsider.ConnectionId, groupName.Normalize(System.Text.NormalizationForm.FormC) == groupName ? groupName + "x" : groupName.Normalize()).DefaultTimeout();

        await first.AddToGroupAsync(member.ConnectionId, groupName).DefaultTimeout();
        await first.SendGroupAsync(groupName, ClientMethods.Receive, ["to the group"]).DefaultTimeout();
        // Across nodes, a send is ordered before the other node's next operations once committed.
        await first.Node.Writes.WhenWrittenAsync().DefaultTimeout();
        await second.SendGroupsAsync([groupName], ClientMethods.Receive, ["to the groups"]).DefaultTimeout();
        await second.Node.Writes.WhenWrittenAsync().DefaultTimeout();
        await first.RemoveFromGroupAsync(member.ConnectionId, groupName).DefaultTimeout();
        await first.SendGroupAsync(groupName, ClientMethods.Receive, ["after leaving"]).DefaultTimeout();
        await first.SendAllAsync(ClientMethods.Receive, ["end"]).DefaultTimeout();

        await member.AssertReceivesAsync("to the group");
        await member.AssertReceivesAsync("to the groups");
        await member.AssertReceivesAsync("end");
        await outsider.AssertReceivesAsync("end");
    }

    /// <summary>
    /// Not valid UTF-16, but a .NET string all the same: the in-box manager treats it like any other name. The SQLite
    /// manager must do the same, or refuse it at once with an ArgumentException that names the parameter.
    /// </summary>
    [Fact]
    public async Task A_group_name_with_a_lone_surrogate_behaves_as_in_the_in_box_manager_or_is_refused_clearly()
    {
        const string groupName = "broken \uD800 surrogate";
        using var database = new TempDatabase();
        using var first = DirectManagers.Create(database);
        using var second = DirectManagers.Create(database);
        await using var member = new FakeClient();
        await second.OnConnectedAsync(member.Connection).DefaultTimeout();

        Exception? refused = null;
        try
        {
            await first.AddToGroupAsync(member.ConnectionId, groupName).DefaultTimeout();
        }
        catch (Exception ex) when (ex is not TimeoutException)
        {
            refused = ex;
        }

        if (refused is not null)
        {
            output.WriteLine($"Refused with {refused.GetType().FullName}: {refused.Message}");
            var argument = Assert.IsAssignableFrom<ArgumentException>(refused);
            Assert.Equal("groupName", argument.ParamName);
            return;
        }

        await first.SendGroupAsync(groupName, ClientMethods.Receive, ["to the group"]).DefaultTimeout();
        await member.AssertReceivesAsync("to the group");
    }
}
