using SqliteBackplane.Tests.Infrastructure;
using SqliteBackplane.TestServer;
using Xunit;
using Xunit.Abstractions;

namespace SqliteBackplane.Tests.MultiProcess;

/// <summary>
/// Key rotation across real processes: mid-rotation, one process already encrypts with the new key while another
/// still encrypts with the old one; both hold both keys, so each reads the other. A process without either key
/// reads neither, and keeps delivering what it can read.
/// </summary>
[Collection(MultiProcessCollection.Name)]
[Trait(TestCategory.Name, TestCategory.MultiProcess)]
public sealed class EncryptionRotationTests(ITestOutputHelper output) : MultiProcessTest(output)
{
    private const string OldKey = "the old key";
    private const string NewKey = "the new key, rotated in without downtime";

    [Fact]
    public async Task Processes_with_different_key_lists_read_each_other_during_a_rotation()
    {
        var rotated = await StartAsync(Settings(NewKey, OldKey), "rotated");
        var lagging = await StartAsync(Settings(OldKey, NewKey), "lagging");
        var stranger = await StartAsync(Settings("a key nobody else has"), "stranger");
        var alice = await ConnectAsync(rotated, "alice");
        var bob = await ConnectAsync(lagging, "bob");
        var eve = await ConnectAsync(stranger, "eve");

        await alice.InvokeAsync(nameof(TestHub.SendAll), "sealed with the new key");
        await bob.InvokeAsync(nameof(TestHub.SendAll), "sealed with the old key");
        await eve.InvokeAsync(nameof(TestHub.SendAll), "sealed with the stranger's key");

        foreach (var client in new[] { alice, bob })
        {
            // Each rotating process reads both rotating senders, in log order, and nothing of the stranger's.
            await client.AssertReceivesAsync("sealed with the new key");
            await client.AssertReceivesAsync("sealed with the old key");
        }

        // The stranger reads only its own message: the others' rows are skipped, not delivered garbled.
        await eve.AssertReceivesAsync("sealed with the stranger's key");
        await alice.InvokeAsync(nameof(TestHub.SendConnection), eve.ConnectionId, "unreadable for eve");
        // Through the log, after alice's row: eve's process reads (and skips) that row before the marker.
        await eve.InvokeAsync(nameof(TestHub.SendAll), "marker");
        await eve.AssertReceivesAsync("marker");
        await bob.InvokeAsync(nameof(TestHub.SendConnection), alice.ConnectionId, "marker");
        await alice.AssertReceivesAsync("marker");
    }

    private TestServerSettings Settings(params string[] keys) => new() { DatabasePath = Database.Path, EncryptionKeys = keys };
}
