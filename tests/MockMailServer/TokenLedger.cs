using System;
using System.Collections.Generic;
using System.Linq;
using System.Security.Cryptography;

namespace MockMail;

/// <summary>
/// What a mock token endpoint keeps: every request it answered, every assertion it saw, and the
/// tokens it issued, each with its expiry and the mailboxes it opens, with the tokens' lifetimes
/// (one for all, or one of each client's own). The mock SMTP and POP3 servers ask it whether a
/// token is good. Thread-safe.
/// </summary>
internal sealed class TokenLedger<TRequest>
{
    private readonly object _sync = new();
    private readonly Dictionary<string, Issued> _issued = new(StringComparer.Ordinal);
    private readonly List<TRequest> _requests = new();
    private readonly List<string> _assertions = new();
    private readonly Dictionary<string, int> _lifetimes = new(StringComparer.OrdinalIgnoreCase);

    /// <summary>Seconds a token is valid (its expires_in) for a client without a lifetime of its own.</summary>
    public int LifetimeSeconds { get; set; } = 3600;

    public TRequest[] Requests
    {
        get
        {
            lock (_sync)
            {
                return _requests.ToArray();
            }
        }
    }

    /// <summary>Every token issued and every assertion seen.</summary>
    public string[] Secrets
    {
        get
        {
            lock (_sync)
            {
                return _issued.Keys.Concat(_assertions).ToArray();
            }
        }
    }

    public void Record(TRequest request)
    {
        lock (_sync)
        {
            _requests.Add(request);
        }
    }

    public void SawAssertion(string? assertion)
    {
        if (assertion == null)
        {
            return;
        }

        lock (_sync)
        {
            _assertions.Add(assertion);
        }
    }

    public void SetLifetime(string client, int seconds)
    {
        lock (_sync)
        {
            _lifetimes[client] = seconds;
        }
    }

    /// <summary>A new token for <paramref name="client"/> that opens the mailboxes <paramref name="opens"/> says yes to; returns it and its lifetime.</summary>
    public (string Token, int Lifetime) Issue(string prefix, string client, Func<string, bool> opens)
    {
        var token = prefix + Jwt.Base64Url(RandomNumberGenerator.GetBytes(32));
        lock (_sync)
        {
            var lifetime = _lifetimes.TryGetValue(client, out var own) ? own : LifetimeSeconds;
            _issued[token] = new Issued(opens, DateTime.UtcNow.AddSeconds(lifetime));
            return (token, lifetime);
        }
    }

    /// <summary>Whether <paramref name="token"/> was issued here, has not expired, and opens <paramref name="user"/>'s mailbox.</summary>
    public bool Accepts(string user, string token)
    {
        lock (_sync)
        {
            return _issued.TryGetValue(token, out var issued) && issued.Expires > DateTime.UtcNow && issued.Opens(user);
        }
    }

    /// <summary>Forgets the requests, the tokens issued and the assertions seen.</summary>
    public void Reset()
    {
        lock (_sync)
        {
            _requests.Clear();
            _issued.Clear();
            _assertions.Clear();
        }
    }

    private sealed record Issued(Func<string, bool> Opens, DateTime Expires);
}
