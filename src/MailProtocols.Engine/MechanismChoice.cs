using System;
using System.Collections.Generic;
using System.Linq;

namespace MailProtocols.Engine;

/// <summary>
/// The user's choice of sign-in mechanisms (-AuthenticationMechanism, -ExcludeAuthenticationMechanism):
/// the names to try, in the user's order, or the protocol's own order less the excluded ones.
/// Some relays offer a mechanism (typically NTLM) that they then refuse; this is how it is avoided.
/// </summary>
public sealed class MechanismChoice
{
    /// <summary>Every SASL mechanism the module can sign in with; POP3 also knows USER and APOP.</summary>
    public static readonly string[] SaslNames =
        { "GSSAPI", "NTLM", "SCRAM-SHA-512", "SCRAM-SHA-256", "SCRAM-SHA-1", "DIGEST-MD5", "CRAM-MD5", "PLAIN", "LOGIN", "XOAUTH2" };

    public MechanismChoice(IEnumerable<string>? chosen, IEnumerable<string>? excluded)
    {
        Chosen = chosen?.Select(Normalize).Distinct().ToArray();
        Excluded = new HashSet<string>(excluded?.Select(Normalize) ?? Enumerable.Empty<string>());
    }

    /// <summary>The names the user allowed, in the order to try them; null: the protocol's order.</summary>
    public IReadOnlyList<string>? Chosen { get; }

    public ISet<string> Excluded { get; }

    /// <summary>True when the user named <paramref name="name"/> in -AuthenticationMechanism.</summary>
    public bool Names(string name) => Chosen?.Contains(name) == true;

    /// <summary>The names to try, in order: the chosen ones, or <paramref name="defaults"/>; never an excluded one.</summary>
    public IEnumerable<string> Order(IEnumerable<string> defaults) => (Chosen ?? defaults).Where(n => !Excluded.Contains(n));

    /// <summary>The server offers none of the mechanisms left to try: the error names what it offers.</summary>
    public MailOperationException NotOffered(ConnectionSettings settings, IEnumerable<string> offered)
    {
        var list = offered.ToList();
        var asked = Chosen != null
            ? $"-AuthenticationMechanism allows only {string.Join(", ", Chosen.Where(n => !Excluded.Contains(n)))}"
            : $"-ExcludeAuthenticationMechanism rules out {string.Join(", ", Excluded.OrderBy(n => n, StringComparer.Ordinal))}";
        return new MailOperationException("AuthenticationMechanismNotOffered", MailErrorKind.AuthenticationError, settings.Endpoint,
            $"The server {settings.Endpoint} offers {(list.Count == 0 ? "no authentication mechanism" : string.Join(", ", list))}, and {asked}: " +
            "nothing was sent. Choose one of those offered.")
        { IsSessionFailure = true };
    }

    private static string Normalize(string name) => name.Trim().ToUpperInvariant();
}
