using System.Diagnostics.CodeAnalysis;
using System.Text.RegularExpressions;
using Microsoft.AspNetCore.SignalR;

namespace ChatSample.Identity;

/// <summary>The rules for user and room names, in one place.</summary>
public static partial class ChatNames
{
    public const int MaxLength = 32;
    public const int MaxMessageLength = 2000;

    /// <summary>A user name: 1-32 letters, digits, spaces, dots, dashes or underscores, starting with a letter or digit. Case-sensitive.</summary>
    [GeneratedRegex(@"^[\p{L}\p{N}][\p{L}\p{N} ._-]{0,31}$")]
    private static partial Regex UserNamePattern();

    /// <summary>A room name: 1-32 lower-case letters, digits, dashes or underscores, starting with a letter or digit.</summary>
    [GeneratedRegex(@"^[a-z0-9][a-z0-9_-]{0,31}$")]
    private static partial Regex RoomNamePattern();

    public static bool TryNormalizeUserName(string? candidate, [NotNullWhen(true)] out string? userName)
    {
        userName = candidate?.Trim();
        if (userName is not null && UserNamePattern().IsMatch(userName))
        {
            return true;
        }
        userName = null;
        return false;
    }

    /// <summary>Trims and lower-cases a room name, or throws a <see cref="HubException"/> the client can show.</summary>
    public static string NormalizeRoomName(string? candidate)
    {
        var room = candidate?.Trim().ToLowerInvariant();
        if (room is null || !RoomNamePattern().IsMatch(room))
        {
            throw new HubException($"'{candidate}' is not a room name. Use 1-{MaxLength} letters, digits, '-' or '_'.");
        }
        return room;
    }

    /// <summary>Trims a message, or throws a <see cref="HubException"/> when it is empty or too long.</summary>
    public static string NormalizeMessageText(string? text)
    {
        var trimmed = text?.Trim();
        if (string.IsNullOrEmpty(trimmed))
        {
            throw new HubException("A message cannot be empty.");
        }
        if (trimmed.Length > MaxMessageLength)
        {
            throw new HubException($"A message can have at most {MaxMessageLength} characters.");
        }
        return trimmed;
    }
}
