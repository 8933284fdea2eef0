using System;
using System.Collections.Generic;
using System.Linq;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Threading;
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
/// with their RSA keys, the scopes their client id is granted domain-wide delegation for in the
/// Admin console, and the mailboxes of the Workspace domain; the JWT bearer grant (RFC 7523),
/// form-encoded, with the assertion checked as Google does (base64url parts, RS256 and typ JWT,
/// the signature with the key its kid names, aud the token URL, exp in the future and at most an
/// hour after iat), and tokens with a short lifetime that the mock SMTP and POP3 servers accept
/// (<see cref="MockServer.Google"/>) only for the mailbox they were issued for, and only until
/// they expire. Thread-safe.
/// </summary>
public sealed class MockGoogle : IDisposable
{
    private const string JwtBearerGrant = "urn:ietf:params:oauth:grant-type:jwt-bearer";
    private static readonly TimeSpan Skew = TimeSpan.FromMinutes(5);

    private readonly object _sync = new();
    private readonly Dictionary<string, Account> _accounts = new(StringComparer.OrdinalIgnoreCase);
    private readonly TokenLedger<GoogleTokenRequest> _ledger = new();
    private readonly ManualResetEventSlim _disposed = new();
    private readonly LoopbackHttps _https;

    public MockGoogle(X509Certificate2 serverCertificate) => _https = new LoopbackHttps(serverCertificate, "MockGoogle", Route);

    /// <summary>Seconds a token is valid (its expires_in). Default 3600.</summary>
    public int TokenLifetimeSeconds
    {
        get => _ledger.LifetimeSeconds;
        set => _ledger.LifetimeSeconds = value;
    }

    /// <summary>Seconds every request is held, once recorded, before it gets 503 (or until
    /// Dispose): an endpoint that does not answer. 0 (the default) answers at once.</summary>
    public int HangSeconds { get; set; }

    public int Port => _https.Port;

    /// <summary>The token URL, the token_uri of the key files made here.</summary>
    public string TokenUri => $"https://localhost:{Port}/token";

    /// <summary>Every request, in order.</summary>
    public GoogleTokenRequest[] Requests => _ledger.Requests;

    /// <summary>Every token issued, every assertion received and every private key made, for
    /// scans that look for them where they must not be.</summary>
    public string[] Secrets
    {
        get
        {
            lock (_sync)
            {
                return _ledger.Secrets.Concat(_accounts.Values.SelectMany(a => a.KeyLines)).ToArray();
            }
        }
    }

    public void Start() => _https.Start();

    public void Dispose()
    {
        _disposed.Set();
        _https.Dispose();
    }

    /// <summary>A service account, its first RSA key, and its domain-wide delegation: the scopes
    /// granted to its client id (none: no delegation) and the domain's mailboxes it may act as.
    /// Returns the JSON key file as the Google Cloud console downloads it, with this endpoint as
    /// token_uri.</summary>
    public string AddServiceAccount(string clientEmail, string[] delegatedScopes, params string[] mailboxes)
    {
        var clientId = string.Concat(Enumerable.Range(0, 21).Select(_ => (char)('0' + RandomNumberGenerator.GetInt32(10))));
        lock (_sync)
        {
            _accounts[clientEmail] = new Account(clientEmail, clientId, delegatedScopes, mailboxes);
        }

        return AddKey(clientEmail);
    }

    /// <summary>Another key of a service account (the console's Keys > Add key); its other keys
    /// stay valid. Returns the new key file.</summary>
    public string AddKey(string clientEmail)
    {
        using var rsa = RSA.Create(2048);
        var keyId = Convert.ToHexString(RandomNumberGenerator.GetBytes(20)).ToLowerInvariant();
        var pem = rsa.ExportPkcs8PrivateKeyPem() + "\n";
        Account account;
        lock (_sync)
        {
            account = _accounts[clientEmail];
            account.Keys[keyId] = rsa.ExportParameters(false);
            account.KeyLines.AddRange(pem.Split('\n').Where(l => l.Length > 0 && !l.StartsWith("-----", StringComparison.Ordinal)));
        }

        var project = clientEmail.Split('@').Last().Split('.')[0];
        return JsonSerializer.Serialize(new Dictionary<string, string>
        {
            ["type"] = "service_account",
            ["project_id"] = project,
            ["private_key_id"] = keyId,
            ["private_key"] = pem,
            ["client_email"] = clientEmail,
            ["client_id"] = account.ClientId,
            ["auth_uri"] = "https://accounts.google.com/o/oauth2/auth",
            ["token_uri"] = TokenUri,
            ["auth_provider_x509_cert_url"] = "https://www.googleapis.com/oauth2/v1/certs",
            ["client_x509_cert_url"] = $"https://www.googleapis.com/robot/v1/metadata/x509/{Uri.EscapeDataString(clientEmail)}",
            ["universe_domain"] = "googleapis.com",
        }, new JsonSerializerOptions { WriteIndented = true });
    }

    /// <summary>Gives the tokens of one service account another lifetime than <see cref="TokenLifetimeSeconds"/>.</summary>
    public void SetTokenLifetime(string clientEmail, int seconds) => _ledger.SetLifetime(clientEmail, seconds);

    /// <summary>The client id of a service account made by <see cref="AddServiceAccount"/>.</summary>
    public string ClientIdOf(string clientEmail)
    {
        lock (_sync)
        {
            return _accounts[clientEmail].ClientId;
        }
    }

    /// <summary>Forgets the requests, the tokens issued and the assertions seen (accounts stay).</summary>
    public void Reset() => _ledger.Reset();

    /// <summary>Whether <paramref name="token"/> was issued here for <paramref name="user"/>'s
    /// mailbox and has not expired.</summary>
    public bool Accepts(string user, string token) => _ledger.Accepts(user, token);

    private (int, Dictionary<string, object>) Route(LoopbackRequest request)
    {
        var path = request.Target.Split('?')[0];
        if (request.Method != "POST" || path != "/token")
        {
            _ledger.Record(new GoogleTokenRequest(path, null, null, null, null, "not_found", null));
            return (404, new Dictionary<string, object> { ["error"] = "not_found" });
        }

        var form = LoopbackHttps.ParseForm(request.Body);
        form.TryGetValue("assertion", out var assertion);
        _ledger.SawAssertion(assertion);
        var seen = new Seen();
        var (status, error, description, reply) = Check(request.ContentType, form, assertion, seen);
        if (HangSeconds > 0)
        {
            (status, error, description, reply) = Refuse(503, "temporarily_unavailable", "The mock held the request unanswered.");
        }

        _ledger.Record(new GoogleTokenRequest(path, seen.Issuer, seen.Subject, seen.Scope, seen.KeyId, error, description));
        if (HangSeconds > 0)
        {
            _disposed.Wait(TimeSpan.FromSeconds(HangSeconds));
        }

        return (status, reply);
    }

    private (int, string?, string?, Dictionary<string, object>) Check(string? contentType, Dictionary<string, string> form, string? assertion, Seen seen)
    {
        if (contentType == null || !contentType.Split(';')[0].Trim().Equals("application/x-www-form-urlencoded", StringComparison.OrdinalIgnoreCase))
        {
            return Refuse(400, "invalid_request", $"Invalid Content-Type '{contentType}': the body must be application/x-www-form-urlencoded.");
        }

        if (!form.TryGetValue("grant_type", out var grant) || grant != JwtBearerGrant)
        {
            return Refuse(400, "unsupported_grant_type", "Invalid grant_type: " + grant);
        }

        var jwt = Jwt.Parse(assertion, out var problem);
        if (jwt == null)
        {
            return Refuse(400, "invalid_request", "Invalid JWT: " + problem);
        }

        var claims = jwt.Claims;
        seen.KeyId = Jwt.Text(jwt.Header, "kid");
        seen.Issuer = Jwt.Text(claims, "iss");
        seen.Subject = Jwt.Text(claims, "sub");
        seen.Scope = Jwt.Text(claims, "scope");
        if (Jwt.Text(jwt.Header, "alg") != "RS256" || Jwt.Text(jwt.Header, "typ") != "JWT")
        {
            return Refuse(400, "invalid_grant", "Invalid JWT: the header must say alg RS256 and typ JWT.");
        }

        RSAParameters? publicKey = null;
        Account? account;
        lock (_sync)
        {
            if (_accounts.TryGetValue(seen.Issuer ?? "", out account) && account.Keys.TryGetValue(seen.KeyId ?? "", out var known))
            {
                publicKey = known;
            }
        }

        if (account == null)
        {
            return Refuse(400, "invalid_grant", "Invalid grant: account not found");
        }

        using (var key = publicKey is RSAParameters parameters ? RSA.Create(parameters) : null)
        {
            if (key == null || !jwt.Verifies(key, RSASignaturePadding.Pkcs1))
            {
                return Refuse(400, "invalid_grant", "Invalid JWT Signature.");
            }
        }

        if (Jwt.Text(claims, "aud") != TokenUri)
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

        var mailbox = seen.Subject;
        if (mailbox == null || !account.Mailboxes.Contains(mailbox))
        {
            return Refuse(400, "invalid_grant", "Invalid email or User ID");
        }

        var (token, lifetime) = _ledger.Issue("ya29.mock-google.", account.ClientEmail, user => string.Equals(user, mailbox, StringComparison.OrdinalIgnoreCase));
        return (200, null, null, new Dictionary<string, object>
        {
            ["access_token"] = token,
            ["expires_in"] = lifetime,
            ["token_type"] = "Bearer",
        });
    }

    private static (int, string?, string?, Dictionary<string, object>) Refuse(int status, string error, string description) =>
        (status, error, description, new Dictionary<string, object> { ["error"] = error, ["error_description"] = description });

    private static long? Seconds(JsonElement claims, string name) =>
        claims.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.Number && value.TryGetInt64(out var n) ? n : null;

    private sealed class Seen
    {
        public string? Issuer { get; set; }

        public string? Subject { get; set; }

        public string? Scope { get; set; }

        public string? KeyId { get; set; }
    }

    private sealed record Account(string ClientEmail, string ClientId, string[] ScopeList, string[] MailboxList)
    {
        public HashSet<string> Scopes { get; } = new(ScopeList, StringComparer.Ordinal);

        public HashSet<string> Mailboxes { get; } = new(MailboxList, StringComparer.OrdinalIgnoreCase);

        /// <summary>The public key of each key id.</summary>
        public Dictionary<string, RSAParameters> Keys { get; } = new(StringComparer.Ordinal);

        /// <summary>The base64 lines of every private key made, for <see cref="Secrets"/>.</summary>
        public List<string> KeyLines { get; } = new();
    }
}
