using System;
using System.Collections.Concurrent;
using System.Collections.Generic;
using System.IO;
using System.Net.Http;
using System.Text;
using System.Text.Json;
using System.Threading;
using System.Threading.Tasks;
using Org.BouncyCastle.Security;

namespace MailProtocols.Engine.OAuth;

/// <summary>
/// Tokens for Google Workspace mailboxes from a service account with domain-wide delegation:
/// a JWT assertion (RFC 7523) signed with the account's key, impersonating the mailbox, for the
/// scope https://mail.google.com/, exchanged at the key file's token_uri. Tokens are kept in
/// memory for the process, per service account key and mailbox, and renewed 5 minutes before
/// they expire; nothing is written to disk. The token endpoint's certificate is checked against
/// the system's trusted CAs, whatever -SkipCertificateCheck says about the mail server.
/// </summary>
public sealed class GoogleServiceAccountTokenSource : IAccessTokenSource
{
    public const string MailScope = "https://mail.google.com/";

    private const string JwtBearerGrant = "urn:ietf:params:oauth:grant-type:jwt-bearer";
    private const long MaxTokenLifetimeSeconds = 24 * 60 * 60;
    private static readonly TimeSpan RenewBefore = TimeSpan.FromMinutes(5);
    private static readonly TimeSpan AssertionLifetime = TimeSpan.FromHours(1);
    private static readonly ConcurrentDictionary<string, AccessToken> Tokens = new(StringComparer.Ordinal);

    private readonly GoogleServiceAccountKey _key;
    private readonly Action<string> _verbose;

    public GoogleServiceAccountTokenSource(GoogleServiceAccountKey key, Action<string>? verbose)
    {
        _key = key;
        _verbose = verbose ?? (_ => { });
    }

    public string Description => $"service account '{_key.ClientEmail}' (key {_key.PrivateKeyId.Substring(0, Math.Min(8, _key.PrivateKeyId.Length))}…) at {_key.TokenUri}";

    public AccessToken GetToken(string userName, TimeSpan timeout, CancellationToken cancellationToken)
    {
        var cacheKey = $"{_key.TokenUri.AbsoluteUri}|{_key.ClientEmail}|{_key.PrivateKeyId}|{_key.PublicKeyHash}|{userName.ToLowerInvariant()}";
        var now = DateTimeOffset.UtcNow;
        if (Tokens.TryGetValue(cacheKey, out var cached) && cached.ExpiresOn - RenewBefore > now)
        {
            _verbose($"Access token for '{userName}' taken from the in-memory cache (scope {MailScope}), valid until {cached.ExpiresOn:u}.");
            return new AccessToken(cached.Value, cached.ExpiresOn, true);
        }

        var token = Request(userName, now, timeout, cancellationToken);
        Tokens[cacheKey] = token;
        _verbose($"Access token for '{userName}' issued by {_key.TokenUri} (scope {MailScope}), valid until {token.ExpiresOn:u}.");
        return token;
    }

    /// <summary>Forgets every cached token (for tests of this class).</summary>
    internal static void ClearCache() => Tokens.Clear();

    /// <summary>The signed assertion: RS256 over header.claims, with the key's id as kid.</summary>
    internal string CreateAssertion(string userName, DateTimeOffset now)
    {
        var header = Json(w =>
        {
            w.WriteString("alg", "RS256");
            w.WriteString("typ", "JWT");
            w.WriteString("kid", _key.PrivateKeyId);
        });
        var issuedAt = now.ToUnixTimeSeconds();
        var claims = Json(w =>
        {
            w.WriteString("iss", _key.ClientEmail);
            w.WriteString("sub", userName);
            w.WriteString("scope", MailScope);
            w.WriteString("aud", _key.TokenUri.AbsoluteUri);
            w.WriteNumber("iat", issuedAt);
            w.WriteNumber("exp", issuedAt + (long)AssertionLifetime.TotalSeconds);
        });
        var signed = Base64Url(header) + "." + Base64Url(claims);
        var signer = SignerUtilities.GetSigner("SHA-256withRSA");
        signer.Init(true, _key.PrivateKey);
        var data = Encoding.ASCII.GetBytes(signed);
        signer.BlockUpdate(data, 0, data.Length);
        return signed + "." + Base64Url(signer.GenerateSignature());
    }

    private AccessToken Request(string userName, DateTimeOffset now, TimeSpan timeout, CancellationToken cancellationToken)
    {
        using var limit = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        limit.CancelAfter(timeout);
        int status;
        string body;
        try
        {
            using var form = new FormUrlEncodedContent(new[]
            {
                new KeyValuePair<string, string>("grant_type", JwtBearerGrant),
                new KeyValuePair<string, string>("assertion", CreateAssertion(userName, now)),
            });

            // On a thread of the pool, so that no synchronization context of the host can wait on itself.
            (status, body) = Task.Run(
                async () =>
                {
                    using var response = await TokenEndpointHttp.Client.PostAsync(_key.TokenUri, form, limit.Token).ConfigureAwait(false);
                    return ((int)response.StatusCode, await response.Content.ReadAsStringAsync().ConfigureAwait(false));
                },
                limit.Token).GetAwaiter().GetResult();
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            throw;
        }
        catch (OperationCanceledException ex)
        {
            throw Unreachable($"no answer within {timeout.TotalSeconds:0.###} s", ex);
        }
        catch (HttpRequestException ex)
        {
            throw Unreachable(ErrorText.Unwrap(ex), ex);
        }

        if (status is >= 300 and < 400)
        {
            throw Unreachable($"it answered HTTP {status}, a redirect, which is not followed: the assertion goes to the key file's token_uri only", null);
        }

        return Answer(userName, now, status, body);
    }

    /// <summary>The token in the endpoint's answer, or the error that names what to do.</summary>
    internal AccessToken Answer(string userName, DateTimeOffset now, int status, string body)
    {
        string? accessToken = null, error = null, description = null;
        long? expiresIn = null;
        try
        {
            using var document = JsonDocument.Parse(body);
            var root = document.RootElement;
            if (root.ValueKind == JsonValueKind.Object)
            {
                accessToken = Text(root, "access_token");
                error = Text(root, "error");
                description = Text(root, "error_description");
                if (root.TryGetProperty("expires_in", out var e) && e.ValueKind == JsonValueKind.Number && e.TryGetInt64(out var seconds))
                {
                    expiresIn = seconds;
                }
            }
        }
        catch (JsonException)
        {
            // Not JSON (a proxy's page, say): reported below by its status.
        }

        if (status == 200 && !string.IsNullOrEmpty(accessToken) && expiresIn is long lifetime)
        {
            // Google's tokens last an hour; a lifetime out of all reason is held to a day.
            return new AccessToken(accessToken!, now.AddSeconds(Math.Max(0, Math.Min(lifetime, MaxTokenLifetimeSeconds))), false);
        }

        var reply = error == null ? $"HTTP {status} without an OAuth2 answer" : description == null ? error : $"{error}: {ErrorText.FirstLine(description)}";
        if (status == 200)
        {
            throw Failed(MailErrorKind.ProtocolError, error,
                $"The token endpoint {_key.TokenUri} answered HTTP 200 without an access token and its expires_in for service account '{_key.ClientEmail}': " +
                "it is not Google's token endpoint, or a proxy answered in its place. Use the key file's token_uri as Google issued it, and check the proxy.");
        }

        if (status == 429 || status >= 500)
        {
            throw Failed(MailErrorKind.ResourceUnavailable, error,
                $"No token came from {_key.TokenUri} for '{userName}' (service account '{_key.ClientEmail}'): {reply.TrimEnd('.')}. " +
                "The token endpoint is busy or failing on Google's side: try again later.");
        }

        throw Refused(userName, reply, error, description);
    }

    private MailOperationException Failed(MailErrorKind kind, string? error, string message) =>
        new("OAuthTokenFailed", kind, _key.ClientEmail, message)
        {
            IsSessionFailure = true,
            ServiceErrorCode = error,
        };

    private MailOperationException Refused(string userName, string reply, string? error, string? description)
    {
        var fix = error switch
        {
            "unauthorized_client" =>
                $"Give the service account domain-wide delegation: in the Google Admin console (Security > Access and data control > API controls > " +
                $"Manage Domain Wide Delegation) add its client id {(_key.ClientId.Length > 0 ? _key.ClientId : "(the key file's client_id)")} with the scope {MailScope}.",
            "access_denied" =>
                "The Google Workspace domain blocks this service account or the mailbox's Gmail: in the Admin console let its client id through " +
                "(Security > Access and data control > API controls > App access control: Trusted) and turn Gmail on for the mailbox's organizational unit.",
            "invalid_grant" when Has(description, "email") || Has(description, "user") =>
                $"The mailbox '{userName}' must be a user of the Google Workspace domain that gave the delegation: check -From or -UserName.",
            "invalid_grant" when Has(description, "signature") =>
                "The key was deleted or disabled for the service account: create a new JSON key and give its path.",
            "invalid_grant" when Has(description, "time") || Has(description, "iat") || Has(description, "exp") =>
                "Google refused the assertion's time: set this computer's clock right (time sync).",
            "invalid_client" or "disabled_client" =>
                "The service account was deleted or disabled in its Google Cloud project: enable it, or create a new one and its key.",
            _ => "Check the service account, its key and its domain-wide delegation in the Google Admin console.",
        };
        return Failed(MailErrorKind.AuthenticationError, error,
            $"Google refused a token for '{userName}' to service account '{_key.ClientEmail}': {reply.TrimEnd('.')}. {fix}");
    }

    private MailOperationException Unreachable(string problem, Exception? ex) =>
        new("OAuthTokenEndpointUnreachable", MailErrorKind.ConnectionError, _key.TokenUri.AbsoluteUri,
            $"No token came from {_key.TokenUri} for service account '{_key.ClientEmail}': {problem}. Check the network path (and proxy) to " +
            "the token endpoint; its certificate is always checked against this machine's trusted CAs.", ex)
        { IsSessionFailure = true };

    private static bool Has(string? text, string word) => text != null && text.IndexOf(word, StringComparison.OrdinalIgnoreCase) >= 0;

    private static string? Text(JsonElement root, string name) =>
        root.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.String ? value.GetString() : null;

    private static byte[] Json(Action<Utf8JsonWriter> write)
    {
        using var stream = new MemoryStream();
        using (var writer = new Utf8JsonWriter(stream))
        {
            writer.WriteStartObject();
            write(writer);
            writer.WriteEndObject();
        }

        return stream.ToArray();
    }

    private static string Base64Url(byte[] data) => Convert.ToBase64String(data).TrimEnd('=').Replace('+', '-').Replace('/', '_');
}
