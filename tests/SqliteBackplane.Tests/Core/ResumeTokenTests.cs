using SqliteBackplane.Internal.Storage;
using Xunit;

namespace SqliteBackplane.Tests.Core;

/// <summary>Resume tokens (docs/security.md): bound to hub, connection and start position, and checked with every configured key.</summary>
public sealed class ResumeTokenTests
{
    [Fact]
    public void A_token_reads_back_only_for_its_hub_and_unaltered()
    {
        var tokens = new ResumeTokens(["first secret"]);
        var token = tokens.Issue("Chat.Hub", "conn-1", 42);

        Assert.True(tokens.TryRead("Chat.Hub", token, out var connection, out var start));
        Assert.Equal(("conn-1", 42L), (connection, start));
        Assert.DoesNotContain('.', token);
        Assert.False(tokens.TryRead("Other.Hub", token, out _, out _));

        var parts = token.Split('~');
        Assert.False(tokens.TryRead("Chat.Hub", $"{parts[0]}~1~{parts[2]}", out _, out _), "An earlier start position must not verify.");
        Assert.False(tokens.TryRead("Chat.Hub", $"Y29ubi0y~{parts[1]}~{parts[2]}", out _, out _), "Another connection id must not verify.");
        Assert.False(tokens.TryRead("Chat.Hub", "not a token", out _, out _));
        Assert.False(new ResumeTokens(["another secret"]).TryRead("Chat.Hub", token, out _, out _));
    }

    [Fact]
    public void Tokens_issued_before_a_key_rotation_still_verify()
    {
        var token = new ResumeTokens(["old"]).Issue("Hub", "conn", 7);

        Assert.True(new ResumeTokens(["new", "old"]).TryRead("Hub", token, out _, out _));
        Assert.False(new ResumeTokens(["new"]).TryRead("Hub", token, out _, out _));
    }
}
