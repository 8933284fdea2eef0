using System;
using System.Collections.Generic;
using System.Linq;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace MockMail;

/// <summary>One request the mock token endpoint answered.</summary>
public sealed class EntraTokenRequest
{
    internal EntraTokenRequest(string method, string path, string? tenant, string? clientId, string? credential, string? scope, string? error)
    {
        Method = method;
        Path = path;
        Tenant = tenant;
        ClientId = clientId;
        Credential = credential;
        Scope = scope;
        Error = error;
        Time = DateTime.UtcNow;
    }

    public string Method { get; }

    public string Path { get; }

    public string? Tenant { get; }

    public string? ClientId { get; }

    /// <summary>"secret", "assertion", or null when the request carried neither.</summary>
    public string? Credential { get; }

    public string? Scope { get; }

    /// <summary>The AADSTS code of the refusal (e.g. "AADSTS7000215"); null when a token was issued.</summary>
    public string? Error { get; }

    public DateTime Time { get; }
}

/// <summary>
/// A mock Microsoft Entra ID token endpoint over HTTPS on loopback (see MockEntra.Http.cs): app
/// registrations of tenants (a client secret or a certificate each, and the mailboxes the app may
/// use, as Add-MailboxPermission grants them), the client credentials grant, and tokens with a
/// short lifetime that the mock SMTP and POP3 servers accept (<see cref="MockServer.Entra"/>)
/// only for a mailbox of the app that got them, and only until they expire. Thread-safe.
/// </summary>
public sealed partial class MockEntra : IDisposable
{
    private readonly object _sync = new();
    private readonly HashSet<string> _tenants = new(StringComparer.OrdinalIgnoreCase);
    private readonly Dictionary<string, App> _apps = new(StringComparer.OrdinalIgnoreCase);
    private readonly TokenLedger<EntraTokenRequest> _ledger = new();

    public MockEntra(X509Certificate2 serverCertificate) => ServerCertificate = serverCertificate;

    /// <summary>Seconds a token is valid (its expires_in). MSAL renews a token 5 minutes before
    /// it expires, so 301 gives a token that MSAL reuses for 1 s only. Default 3600.</summary>
    public int TokenLifetimeSeconds
    {
        get => _ledger.LifetimeSeconds;
        set => _ledger.LifetimeSeconds = value;
    }

    /// <summary>The scope a token must be asked for.</summary>
    public string ExpectedScope { get; set; } = "https://outlook.office365.com/.default";

    /// <summary>Every request, in order.</summary>
    public EntraTokenRequest[] Requests => _ledger.Requests;

    /// <summary>Every token issued and every client assertion received, for scans that look for
    /// them where they must not be (output, transcripts, errors).</summary>
    public string[] Secrets => _ledger.Secrets;

    /// <summary>Gives the tokens of one app another lifetime than <see cref="TokenLifetimeSeconds"/>.</summary>
    public void SetTokenLifetime(string clientId, int seconds) => _ledger.SetLifetime(clientId, seconds);

    /// <summary>Requests that got a token.</summary>
    public int TokensIssued => _ledger.Requests.Count(r => r.Error == null && r.ClientId != null);

    /// <summary>An app in <paramref name="tenant"/> that signs in with <paramref name="secret"/>
    /// and may use <paramref name="mailboxes"/>; for an app added before, a further credential
    /// and further mailboxes.</summary>
    public void AddApp(string tenant, string clientId, string secret, params string[] mailboxes) =>
        Add(tenant, new App(tenant, clientId, secret, null, mailboxes));

    /// <summary>An app that signs in with a client assertion signed by <paramref name="certificate"/>'s key.</summary>
    public void AddApp(string tenant, string clientId, X509Certificate2 certificate, params string[] mailboxes) =>
        Add(tenant, new App(tenant, clientId, null, certificate, mailboxes));

    /// <summary>Forgets the requests, the tokens issued and the assertions seen (apps stay).</summary>
    public void Reset() => _ledger.Reset();

    /// <summary>Whether <paramref name="token"/> was issued here, has not expired, and belongs to
    /// an app that may use <paramref name="user"/>'s mailbox.</summary>
    public bool Accepts(string user, string token) => _ledger.Accepts(user, token);

    private void Add(string tenant, App app)
    {
        lock (_sync)
        {
            _tenants.Add(tenant);
            var key = tenant + "/" + app.ClientId;

            // An app may have a secret and a certificate, as in Entra: a second AddApp adds one.
            if (_apps.TryGetValue(key, out var known))
            {
                app = new App(tenant, app.ClientId, app.Secret ?? known.Secret, app.Certificate ?? known.Certificate,
                    known.MailboxList.Concat(app.MailboxList).ToArray());
            }

            _apps[key] = app;
        }
    }

    /// <summary>Answers a token request's form: (status, JSON body).</summary>
    private (int Status, Dictionary<string, object> Body) Token(string tenant, Dictionary<string, string> form, string endpoint, string path)
    {
        form.TryGetValue("client_id", out var clientId);
        form.TryGetValue("scope", out var scope);
        var credential = form.ContainsKey("client_secret") ? "secret" : form.ContainsKey("client_assertion") ? "assertion" : null;
        var (status, error, body) = Check(tenant, form, clientId, scope, endpoint);
        _ledger.Record(new EntraTokenRequest("POST", path, tenant, clientId, credential, scope, error));

        return (status, body);
    }

    private (int, string?, Dictionary<string, object>) Check(string tenant, Dictionary<string, string> form, string? clientId, string? scope, string endpoint)
    {
        App? app;
        lock (_sync)
        {
            if (!_tenants.Contains(tenant))
            {
                return Refuse(400, "invalid_request", 90002,
                    $"Tenant '{tenant}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud.");
            }

            _apps.TryGetValue(tenant + "/" + clientId, out app);
        }

        if (!form.TryGetValue("grant_type", out var grant) || grant != "client_credentials")
        {
            return Refuse(400, "unsupported_grant_type", 70003, "The app requested an unsupported grant type.");
        }

        if (app == null)
        {
            return Refuse(400, "unauthorized_client", 700016,
                $"Application with identifier '{clientId}' was not found in the directory '{tenant}'. This can happen if the application " +
                "has not been installed by the administrator of the tenant or consented to by any user in the tenant.");
        }

        if (form.TryGetValue("client_secret", out var secret))
        {
            if (app.Secret == null || !FixedEquals(secret, app.Secret))
            {
                return Refuse(401, "invalid_client", 7000215,
                    $"Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '{app.ClientId}'.");
            }
        }
        else
        {
            form.TryGetValue("client_assertion_type", out var assertionType);
            form.TryGetValue("client_assertion", out var assertion);
            _ledger.SawAssertion(assertion);

            if (assertionType != "urn:ietf:params:oauth:client-assertion-type:jwt-bearer" || assertion == null)
            {
                return Refuse(401, "invalid_client", 7000218, "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.");
            }

            if (app.Certificate == null)
            {
                return Refuse(401, "invalid_client", 700027, $"The app '{app.ClientId}' has no certificate registered to verify the client assertion.");
            }

            var problem = ClientAssertion.Check(assertion, app.Certificate, app.ClientId, endpoint, DateTime.UtcNow);
            if (problem != null)
            {
                return problem.Value.Expired
                    ? Refuse(401, "invalid_client", 700024, $"Client assertion is not within its valid time range: {problem.Value.Text}")
                    : Refuse(401, "invalid_client", 700027, $"Client assertion failed signature validation: {problem.Value.Text}");
            }
        }

        if (scope != ExpectedScope)
        {
            return Refuse(400, "invalid_scope", 1002012, $"The provided value for scope '{scope}' is not valid.");
        }

        var (token, lifetime) = _ledger.Issue("mock-entra.", app.ClientId, app.Mailboxes.Contains);

        return (200, null, new Dictionary<string, object>
        {
            ["token_type"] = "Bearer",
            ["expires_in"] = lifetime,
            ["ext_expires_in"] = lifetime,
            ["access_token"] = token,
        });
    }

    /// <summary>Entra's error reply: error, "AADSTSn: text" with trace and correlation ids, error_codes.</summary>
    private static (int, string?, Dictionary<string, object>) Refuse(int status, string error, int code, string text)
    {
        var now = DateTime.UtcNow.ToString("yyyy-MM-dd HH:mm:ss'Z'", System.Globalization.CultureInfo.InvariantCulture);
        var trace = Guid.NewGuid().ToString();
        var correlation = Guid.NewGuid().ToString();
        return (status, "AADSTS" + code, new Dictionary<string, object>
        {
            ["error"] = error,
            ["error_description"] = $"AADSTS{code}: {text}\r\nTrace ID: {trace}\r\nCorrelation ID: {correlation}\r\nTimestamp: {now}",
            ["error_codes"] = new[] { code },
            ["timestamp"] = now,
            ["trace_id"] = trace,
            ["correlation_id"] = correlation,
            ["error_uri"] = $"https://login.microsoftonline.com/error?code={code}",
        });
    }

    private static bool FixedEquals(string a, string b) =>
        CryptographicOperations.FixedTimeEquals(System.Text.Encoding.UTF8.GetBytes(a), System.Text.Encoding.UTF8.GetBytes(b));

    private sealed record App(string Tenant, string ClientId, string? Secret, X509Certificate2? Certificate, string[] MailboxList)
    {
        public HashSet<string> Mailboxes { get; } = new(MailboxList, StringComparer.OrdinalIgnoreCase);
    }
}
