using System;
using System.Collections.Generic;
using System.Linq;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using System.Text.Json;

namespace MockMail;

/// <summary>One request the mock Google token endpoint answered.</summary>
public sealed class GoogleTokenRequest
{
    internal GoogleTokenRequest(string path, string? issuer, string? subject, string? scope, string? keyId, string? error, string? description)
    {
        Path = path;
        Issuer = issuer;
        Subject = subject;
        Scope = scope;
        KeyId = keyId;
        Error = error;
        ErrorDescription = description;
        Time = DateTime.UtcNow;
    }

    public string Path { get; }

    /// <summary>The assertion's iss (the service account), as far as it could be read.</summary>
    public string? Issuer { get; }

    /// <summary>The assertion's sub: the mailbox to act as.</summary>
    public string? Subject { get; }

    public string? Scope { get; }

    /// <summary>The header's kid.</summary>
    public string? KeyId { get; }

    /// <summary>The OAuth2 error of the refusal (e.g. "unauthorized_client"); null when a token was issued.</summary>
    public string? Error { get; }

    public string? ErrorDescription { get; }

    public DateTime Time { get; }
}

/// <summary>
/// A mock Google OAuth2 token endpoint (POST /token) over HTTPS on loopback: service accounts
/// with an RSA key each, the scopes their client id is granted domain-wide delegation for in the
/// Admin console, and the mailboxes of the Workspace domain; the JWT bearer grant (RFC 7523) with
/// the assertion checked as Google does (RS256 signature with the account's key, aud the token
/// URL, exp in the future and at most an hour after iat), and tokens with a short lifetime that
/// the mock SMTP and POP3 servers accept (<see cref="MockServer.Google"/>) only for the mailbox
/// they were issued for, and only until they expire. Thread-safe.
/// </summary>
public sealed class MockGoogle : IDisposable
{
    private const string JwtBearerGrant = "urn:ietf:params:oauth:grant-type:jwt-bearer";
    private static readonly TimeSpan Skew = TimeSpan.FromMinutes(5);

    private readonly object _sync = new();
    private readonly Dictionary<string, Account> _accounts = new(StringComparer.OrdinalIgnoreCase);
    private readonly Dictionary<string, Issued> _issued = new(StringComparer.Ordinal);
    private readonly List<GoogleTokenRequest> _requests = new();
    private readonly List<string> _assertions = new();
    private readonly Dictionary<string, int> _lifetimes = new(StringComparer.OrdinalIgnoreCase);
    private readonly LoopbackHttps _https;

    public MockGoogle(X509Certificate2 serverCertificate) => _https = new LoopbackHttps(serverCertificate, "MockGoogle", Route);

    /// <summary>Seconds a token is valid (its expires_in). Default 3600.</summary>
    public int TokenLifetimeSeconds { get; set; } = 3600;

    public int Port => _https.Port;

    /// <summary>The token URL, the token_uri of the key files made here.</summary>
    public string TokenUri => $"https://localhost:{Port}/token";

    /// <summary>Every request, in order.</summary>
    public GoogleTokenRequest[] Requests
    {
        get
        {
            lock (_sync)
            {
                return _requests.ToArray();
            }
        }
    }

    /// <summary>Every token issued, every assertion received and every private key made, for
    /// scans that look for them where they must not be.</summary>
    public string[] Secrets
    {
        get
        {
            lock (_sync)
            {
                return _issued.Keys.Concat(_assertions).Concat(_accounts.Values.SelectMany(a => a.KeyLines)).ToArray();
            }
        }
    }

    public void Start() => _https.Start();

    public void Dispose() => _https.Dispose();

    /// <summary>A service account, its new RSA key, and its domain-wide delegation: the scopes
    /// granted to its client id (none: no delegation) and the domain's mailboxes it may act as.
    /// Returns the JSON key file as the Google Cloud console downloads it, with this endpoint as
    /// token_uri.</summary>
    public string AddServiceAccount(string clientEmail, string[] delegatedScopes, params string[] mailboxes)
    {
        using var rsa = RSA.Create(2048);
        var keyId = Convert.ToHexString(RandomNumberGenerator.GetBytes(20)).ToLowerInvariant();
        var clientId = string.Concat(Enumerable.Range(0, 21).Select(_ => (char)('0' + RandomNumberGenerator.GetInt32(10))));
        var pem = rsa.ExportPkcs8PrivateKeyPem() + "\n";
        var account = new Account(clientEmail, clientId, keyId, rsa.ExportParameters(false), delegatedScopes, mailboxes,
            pem.Split('\n').Where(l => l.Length > 0 && !l.StartsWith("-----", StringComparison.Ordinal)).ToArray());
        lock (_sync)
        {
            _accounts[clientEmail] = account;
        }

        var project = clientEmail.Split('@').Last().Split('.')[0];
        return JsonSerializer.Serialize(new Dictionary<string, string>
        {
            ["type"] = "service_account",
            ["project_id"] = project,
            ["private_key_id"] = keyId,
            ["private_key"] = pem,
            ["client_email"] = clientEmail,
            ["client_id"] = clientId,
            ["auth_uri"] = "https://accounts.google.com/o/oauth2/auth",
            ["token_uri"] = TokenUri,
            ["auth_provider_x509_cert_url"] = "https://www.googleapis.com/oauth2/v1/certs",
            ["client_x509_cert_url"] = $"https://www.googleapis.com/robot/v1/metadata/x509/{Uri.EscapeDataString(clientEmail)}",
            ["universe_domain"] = "googleapis.com",
        }, new JsonSerializerOptions { WriteIndented = true });
    }

    /// <summary>Gives the tokens of one service account another lifetime than <see cref="TokenLifetimeSeconds"/>.</summary>
    public void SetTokenLifetime(string clientEmail, int seconds)
    {
        lock (_sync)
        {
            _lifetimes[clientEmail] = seconds;
        }
    }

    /// <summary>The client id of a service account made by <see cref="AddServiceAccount"/>.</summary>
    public string ClientIdOf(string clientEmail)
    {
        lock (_sync)
        {
            return _accounts[clientEmail].ClientId;
        }
    }

    /// <summary>Forgets the requests, the tokens issued and the assertions seen (accounts stay).</summary>
    public void Reset()
    {
        lock (_sync)
        {
            _requests.Clear();
            _issued.Clear();
            _assertions.Clear();
        }
    }

    /// <summary>Whether <paramref name="token"/> was issued here for <paramref name="user"/>'s
    /// mailbox and has not expired.</summary>
    public bool Accepts(string user, string token)
    {
        lock (_sync)
        {
            return _issued.TryGetValue(token, out var issued) && issued.Expires > DateTime.UtcNow &&
                string.Equals(issued.Mailbox, user, StringComparison.OrdinalIgnoreCase);
        }
    }

    private (int, Dictionary<string, object>) Route(string method, string target, string body)
    {
        var path = target.Split('?')[0];
        if (method != "POST" || path != "/token")
        {
            lock (_sync)
            {
                _requests.Add(new GoogleTokenRequest(path, null, null, null, null, "not_found", null));
            }

            return (404, new Dictionary<string, object> { ["error"] = "not_found" });
        }

        var form = LoopbackHttps.ParseForm(body);
        form.TryGetValue("assertion", out var assertion);
        if (assertion != null)
        {
            lock (_sync)
            {
                _assertions.Add(assertion);
            }
        }

        var seen = new Seen();
        var (status, error, description, reply) = Check(form, assertion, seen);
        lock (_sync)
        {
            _requests.Add(new GoogleTokenRequest(path, seen.Issuer, seen.Subject, seen.Scope, seen.KeyId, error, description));
        }

        return (status, reply);
    }

    private (int, string?, string?, Dictionary<string, object>) Check(Dictionary<string, string> form, string? assertion, Seen seen)
    {
        if (!form.TryGetValue("grant_type", out var grant) || grant != JwtBearerGrant)
        {
            return Refuse(400, "unsupported_grant_type", "Invalid grant_type: " + grant);
        }

        var parts = assertion?.Split('.') ?? Array.Empty<string>();
        if (parts.Length != 3)
        {
            return Refuse(400, "invalid_request", "Invalid JWT: it must have 3 parts.");
        }

        JsonElement header, claims;
        byte[] signature;
        try
        {
            header = JsonDocument.Parse(FromBase64Url(parts[0])).RootElement;
            claims = JsonDocument.Parse(FromBase64Url(parts[1])).RootElement;
            signature = FromBase64Url(parts[2]);
        }
        catch (Exception ex) when (ex is FormatException || ex is JsonException)
        {
            return Refuse(400, "invalid_request", "Invalid JWT: " + ex.Message);
        }

        seen.KeyId = Text(header, "kid");
        seen.Issuer = Text(claims, "iss");
        seen.Subject = Text(claims, "sub");
        seen.Scope = Text(claims, "scope");
        if (Text(header, "alg") != "RS256")
        {
            return Refuse(400, "invalid_grant", "Invalid JWT: the algorithm must be RS256.");
        }

        Account? account;
        lock (_sync)
        {
            _accounts.TryGetValue(seen.Issuer ?? "", out account);
        }

        if (account == null)
        {
            return Refuse(400, "invalid_grant", "Invalid grant: account not found");
        }

        using (var key = RSA.Create(account.PublicKey))
        {
            if (seen.KeyId != account.KeyId || !key.VerifyData(Encoding.ASCII.GetBytes(parts[0] + "." + parts[1]), signature, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1))
            {
                return Refuse(400, "invalid_grant", "Invalid JWT Signature.");
            }
        }

        if (Text(claims, "aud") != TokenUri)
        {
            return Refuse(400, "invalid_grant", $"Invalid JWT: the audience must be {TokenUri}.");
        }

        var now = DateTimeOffset.UtcNow;
        if (Seconds(claims, "iat") is not long issuedAt || Seconds(claims, "exp") is not long expires ||
            DateTimeOffset.FromUnixTimeSeconds(expires) + Skew < now || DateTimeOffset.FromUnixTimeSeconds(issuedAt) - Skew > now ||
            expires - issuedAt > 3600 || expires <= issuedAt)
        {
            return Refuse(400, "invalid_grant",
                "Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe. Check your iat and exp values in the JWT claim.");
        }

        var scopes = (seen.Scope ?? "").Split(' ', StringSplitOptions.RemoveEmptyEntries);
        if (!scopes.Contains("https://mail.google.com/") || scopes.Any(s => !account.Scopes.Contains(s)))
        {
            return Refuse(401, "unauthorized_client",
                "Client is unauthorized to retrieve access tokens using this method, or client not authorized for any of the scopes requested.");
        }

        if (seen.Subject == null || !account.Mailboxes.Contains(seen.Subject))
        {
            return Refuse(400, "invalid_grant", "Invalid email or User ID");
        }

        var token = "ya29.mock-google." + MockEntra.Base64Url(RandomNumberGenerator.GetBytes(32));
        int lifetime;
        lock (_sync)
        {
            lifetime = _lifetimes.TryGetValue(account.ClientEmail, out var own) ? own : TokenLifetimeSeconds;
            _issued[token] = new Issued(seen.Subject, DateTime.UtcNow.AddSeconds(lifetime));
        }

        return (200, null, null, new Dictionary<string, object>
        {
            ["access_token"] = token,
            ["expires_in"] = lifetime,
            ["token_type"] = "Bearer",
        });
    }

    private static (int, string?, string?, Dictionary<string, object>) Refuse(int status, string error, string description) =>
        (status, error, description, new Dictionary<string, object> { ["error"] = error, ["error_description"] = description });

    private static string? Text(JsonElement element, string name) =>
        element.ValueKind == JsonValueKind.Object && element.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.String ? value.GetString() : null;

    private static long? Seconds(JsonElement claims, string name) =>
        claims.ValueKind == JsonValueKind.Object && claims.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.Number && value.TryGetInt64(out var n) ? n : null;

    private static byte[] FromBase64Url(string text)
    {
        var s = text.Replace('-', '+').Replace('_', '/');
        return Convert.FromBase64String(s.PadRight(s.Length + ((4 - (s.Length % 4)) % 4), '='));
    }

    private sealed class Seen
    {
        public string? Issuer { get; set; }

        public string? Subject { get; set; }

        public string? Scope { get; set; }

        public string? KeyId { get; set; }
    }

    private sealed record Account(string ClientEmail, string ClientId, string KeyId, RSAParameters PublicKey, string[] ScopeList, string[] MailboxList, string[] KeyLines)
    {
        public HashSet<string> Scopes { get; } = new(ScopeList, StringComparer.Ordinal);

        public HashSet<string> Mailboxes { get; } = new(MailboxList, StringComparer.OrdinalIgnoreCase);
    }

    private sealed record Issued(string Mailbox, DateTime Expires);
}
