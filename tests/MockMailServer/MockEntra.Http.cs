using System;
using System.Collections.Generic;
using System.Security.Cryptography.X509Certificates;

namespace MockMail;

/// <summary>
/// The HTTPS side of <see cref="MockEntra"/>: a <see cref="LoopbackHttps"/> listener that serves
/// POST /{tenant}/oauth2/v2.0/token (form-encoded, as MSAL sends it), the tenant's OpenID
/// metadata at GET /{tenant}/v2.0/.well-known/openid-configuration, and 404 for anything else;
/// one request per connection (Connection: close).
/// </summary>
public sealed partial class MockEntra
{
    private LoopbackHttps? _https;

    public X509Certificate2 ServerCertificate { get; }

    /// <summary>The listening port; 0 before Start.</summary>
    public int Port => _https?.Port ?? 0;

    /// <summary>The base URL to pass as -Authority (the host name the server certificate names).</summary>
    public string Authority => $"https://localhost:{Port}/";

    public void Start()
    {
        _https = new LoopbackHttps(ServerCertificate, "MockEntra", Route);
        _https.Start();
    }

    public void Dispose() => _https?.Dispose();

    private (int, Dictionary<string, object>) Route(LoopbackRequest request)
    {
        var method = request.Method;
        var path = request.Target.Split('?')[0];
        var segments = path.Trim('/').Split('/');
        if (method == "POST" && segments.Length == 4 && segments[1] == "oauth2" && segments[2] == "v2.0" && segments[3] == "token")
        {
            var tenant = Uri.UnescapeDataString(segments[0]);
            return Token(tenant, LoopbackHttps.ParseForm(request.Body), $"{Authority}{segments[0]}/oauth2/v2.0/token", path);
        }

        if (method == "GET" && segments.Length == 4 && segments[1] == "v2.0" && segments[2] == ".well-known" && segments[3] == "openid-configuration")
        {
            _ledger.Record(new EntraTokenRequest(method, path, segments[0], null, null, null, null));

            var root = $"{Authority}{segments[0]}";
            return (200, new Dictionary<string, object>
            {
                ["token_endpoint"] = $"{root}/oauth2/v2.0/token",
                ["authorization_endpoint"] = $"{root}/oauth2/v2.0/authorize",
                ["issuer"] = $"{root}/v2.0",
                ["token_endpoint_auth_methods_supported"] = new[] { "client_secret_post", "private_key_jwt" },
            });
        }

        _ledger.Record(new EntraTokenRequest(method, path, null, null, null, null, "NotFound"));

        return (404, new Dictionary<string, object> { ["error"] = "not_found" });
    }
}
