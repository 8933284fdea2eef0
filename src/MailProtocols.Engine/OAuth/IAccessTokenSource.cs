using System;
using System.Threading;

namespace MailProtocols.Engine.OAuth;

/// <summary>
/// Where the access token of an OAuth2 (XOAUTH2) login comes from, asked at every login, so that
/// a command that connects again later gets a token that is still valid. A source keeps its
/// tokens in memory and renews them before they expire; it never writes them anywhere.
/// </summary>
public interface IAccessTokenSource
{
    /// <summary>What the source is, for the verbose stream: no secret in it.</summary>
    string Description { get; }

    /// <summary>A token to log in to <paramref name="userName"/>'s mailbox, within
    /// <paramref name="timeout"/>. Failures are session-failure <see cref="MailOperationException"/>s
    /// (with <see cref="MailOperationException.ServiceErrorCode"/> when the identity provider gave one).</summary>
    AccessToken GetToken(string userName, TimeSpan timeout, CancellationToken cancellationToken);
}

/// <summary>An access token and how long it is good for.</summary>
public sealed class AccessToken
{
    public AccessToken(string value, DateTimeOffset expiresOn, bool fromCache)
    {
        Value = value;
        ExpiresOn = expiresOn;
        FromCache = fromCache;
    }

    public string Value { get; }

    public DateTimeOffset ExpiresOn { get; }

    /// <summary>True when the source had it already (no request to the identity provider).</summary>
    public bool FromCache { get; }

    /// <summary>Never the token itself, so that a stray Write-Verbose or ToString cannot leak it.</summary>
    public override string ToString() => $"access token valid until {ExpiresOn:u}";
}
