namespace SqliteBackplane.Internal.Messaging;

/// <summary>Why a row body could not be decoded; used to count and log skipped rows per kind of problem.</summary>
internal enum EnvelopeFormatError
{
    Corrupt,
    UnsupportedVersion,
    UnknownKind,
    Undecryptable,
}

/// <summary>The only exception <see cref="EnvelopeProtocol.Read"/> throws.</summary>
internal sealed class EnvelopeFormatException(EnvelopeFormatError error, string message) : FormatException(message)
{
    public EnvelopeFormatError Error { get; } = error;
}
