using System;
using System.Collections.Concurrent;
using System.Net.Http;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using System.Text.RegularExpressions;
using System.Threading;
using System.Threading.Tasks;
using Microsoft.Identity.Client;

namespace MailProtocols.Engine.OAuth;

/// <summary>
/// App-only tokens from Microsoft Entra ID through MSAL.NET (client credentials). One MSAL
/// confidential client per app, authority and credential lives for the process, so its in-memory
/// app token cache serves every command of the session: MSAL hands out the cached token until it
/// is about to expire (its 5-minute margin) and only then asks the token endpoint again. Nothing
/// is written to disk. MSAL's requests go through <see cref="TokenEndpointHttp"/>: the endpoint's
/// certificate is checked against the system's trust store, whatever -SkipCertificateCheck says
/// about the mail server, and no redirect is followed.
/// </summary>
public sealed class EntraTokenSource : IAccessTokenSource
{
    private static readonly ConcurrentDictionary<string, IConfidentialClientApplication> Apps = new(StringComparer.Ordinal);
    private static readonly Regex AadstsCode = new(@"\bAADSTS\d+\b", RegexOptions.CultureInvariant);

    private readonly EntraApp _app;
    private readonly IConfidentialClientApplication _client;
    private readonly Action<string> _verbose;

    /// <summary>Throws a <see cref="MailOperationException"/> (InvalidArgument) when the app
    /// cannot sign in at all: no credential, or a certificate without its private key.</summary>
    public EntraTokenSource(EntraApp app, Action<string>? verbose)
    {
        _app = app;
        _verbose = verbose ?? (_ => { });

        // Before the cache: an app cached for the same certificate with its key must not sign
        // in for a copy that has none.
        if (app.Certificate != null && !app.Certificate.HasPrivateKey)
        {
            throw new MailOperationException("CertificateHasNoPrivateKey", MailErrorKind.InvalidArgument, app.Certificate.Thumbprint,
                $"The certificate {app.Certificate.Thumbprint} ({app.Certificate.Subject}) has no private key here, so it cannot sign in " +
                "for the app. Use the certificate as it was imported with its key (a .pfx, or the store entry that has the key).")
            { IsSessionFailure = true };
        }

        if (app.Certificate != null && app.Certificate.NotAfter.ToUniversalTime() < DateTime.UtcNow)
        {
            throw new MailOperationException("CertificateExpired", MailErrorKind.InvalidArgument, app.Certificate.Thumbprint,
                $"The certificate {app.Certificate.Thumbprint} ({app.Certificate.Subject}) expired on {app.Certificate.NotAfter.ToUniversalTime():u}, " +
                "so Microsoft Entra ID would refuse it. Upload a new certificate to the app registration and import it here with its private key.")
            { IsSessionFailure = true };
        }

        _client = Apps.GetOrAdd(CacheKey(app), _ => Build(app));
    }

    public string Description => $"app '{_app.ClientId}' of tenant '{_app.TenantId}' at {_app.AuthorityUri}";

    public AccessToken GetToken(string userName, TimeSpan timeout, CancellationToken cancellationToken)
    {
        using var limit = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        limit.CancelAfter(timeout);
        AuthenticationResult result;
        try
        {
            // On a thread of the pool, so that no synchronization context of the host can wait
            // on itself.
            result = Task.Run(() => _client.AcquireTokenForClient(new[] { _app.Scope }).ExecuteAsync(limit.Token), limit.Token)
                .GetAwaiter().GetResult();
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            throw;
        }
        catch (OperationCanceledException ex)
        {
            throw Unreachable($"no answer within {timeout.TotalSeconds:0.###} s", ex);
        }
        catch (MsalServiceException ex) when (ex.StatusCode == 0 || ex.InnerException is HttpRequestException)
        {
            throw Unreachable(ErrorText.Unwrap(ex), ex);
        }
        catch (MsalServiceException ex)
        {
            // MSAL's message puts its own advice before the reply; the reply's first line
            // ("AADSTSn: what is wrong") is what the admin needs, without trace ids.
            var code = AadstsCode.Match(ex.Message);
            var reply = code.Success ? ErrorText.FirstLine(ex.Message.Substring(code.Index)) : ErrorText.FirstLine(ex.Message);
            // A known code gets the table's stable ErrorId and its fix; any other stays OAuthTokenFailed.
            var hint = AuthenticationHints.ForAadsts(code.Success ? code.Value : null);
            throw new MailOperationException(hint?.ErrorId ?? "OAuthTokenFailed", hint?.Kind ?? MailErrorKind.AuthenticationError, _app.ClientId,
                $"Microsoft Entra ID refused a token to app '{_app.ClientId}' of tenant '{_app.TenantId}': {reply}" + (hint == null ? "" : " " + hint.Hint), ex)
            {
                IsSessionFailure = true,
                ServiceErrorCode = code.Success ? code.Value : ex.ErrorCode,
            };
        }
        catch (MsalClientException ex)
        {
            throw new MailOperationException("OAuthTokenFailed", MailErrorKind.InvalidArgument, _app.ClientId,
                $"No token could be requested for app '{_app.ClientId}' of tenant '{_app.TenantId}': {ErrorText.FirstLine(ex.Message)}", ex)
            {
                IsSessionFailure = true,
                ServiceErrorCode = ex.ErrorCode,
            };
        }
        catch (HttpRequestException ex)
        {
            throw Unreachable(ErrorText.Unwrap(ex), ex);
        }

        var fromCache = result.AuthenticationResultMetadata?.TokenSource == TokenSource.Cache;
        _verbose($"Access token for '{userName}' {(fromCache ? "taken from MSAL's cache" : "issued by " + _app.AuthorityUri)} (scope {_app.Scope}), valid until {result.ExpiresOn:u}.");
        return new AccessToken(result.AccessToken, result.ExpiresOn, fromCache);
    }

    /// <summary>Forgets every cached app and its tokens (for tests of this class).</summary>
    internal static void ClearCache() => Apps.Clear();

    private static IConfidentialClientApplication Build(EntraApp app)
    {
        var builder = ConfidentialClientApplicationBuilder.Create(app.ClientId)
            .WithAuthority(app.AuthorityUri.AbsoluteUri, validateAuthority: app.Authority == null)
            .WithHttpClientFactory(new TokenEndpointHttp.MsalFactory());
        if (app.Authority != null)
        {
            builder = builder.WithInstanceDiscovery(false);
        }

        if (app.Certificate != null)
        {
            // A copy of its own: the app lives for the process, and the caller may dispose its object.
            builder = builder.WithCertificate(new X509Certificate2(app.Certificate));
        }
        else if (!string.IsNullOrEmpty(app.ClientSecret))
        {
            builder = builder.WithClientSecret(app.ClientSecret);
        }
        else
        {
            throw new ArgumentException("The app has neither a client secret nor a certificate.", nameof(app));
        }

        return builder.Build();
    }

    /// <summary>Which app, where, and with which credential: a hash of the secret, so that the
    /// key itself holds none.</summary>
    private static string CacheKey(EntraApp app)
    {
        string credential;
        if (app.Certificate != null)
        {
            credential = "cert:" + app.Certificate.Thumbprint;
        }
        else
        {
            using var sha = SHA256.Create();
            credential = "secret:" + Convert.ToBase64String(sha.ComputeHash(Encoding.UTF8.GetBytes(app.ClientSecret ?? "")));
        }

        return $"{app.AuthorityUri.AbsoluteUri}|{app.ClientId}|{credential}";
    }

    private MailOperationException Unreachable(string problem, Exception ex) =>
        new("OAuthTokenEndpointUnreachable", MailErrorKind.ConnectionError, _app.AuthorityUri.AbsoluteUri,
            $"No token came from {_app.AuthorityUri} for app '{_app.ClientId}': {problem}. Check the network path (and proxy) to the " +
            "sign-in endpoint; its certificate is always checked against this machine's trusted CAs.", ex)
        { IsSessionFailure = true };
}
