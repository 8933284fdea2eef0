using System.Net.Http;
using System.Net.Security;
using System.Threading;
using Microsoft.Identity.Client;

namespace MailProtocols.Engine.OAuth;

/// <summary>
/// The one HttpClient of the token requests, Google's and MSAL's: the token endpoint's
/// certificate is checked against the system's trusted CAs by this client itself, so neither
/// -SkipCertificateCheck (the mail server's) nor a process-wide
/// ServicePointManager.ServerCertificateValidationCallback (a common line in Windows PowerShell
/// 5.1 scripts for self-signed hosts, which .NET Framework's default handler obeys) can turn the
/// check off; and it follows no redirect, so a 307 or 308 cannot re-send an assertion or a
/// secret to wherever it points (a token endpoint has no reason to redirect).
/// </summary>
internal static class TokenEndpointHttp
{
    /// <summary>For the process (its connection pool and TLS sessions); each request has its own
    /// time limit through its cancellation token.</summary>
    internal static HttpClient Client { get; } = new(new HttpClientHandler
    {
        ServerCertificateCustomValidationCallback = (_, _, _, errors) => errors == SslPolicyErrors.None,
        AllowAutoRedirect = false,
    })
    {
        Timeout = Timeout.InfiniteTimeSpan,
    };

    /// <summary>Hands MSAL the same client (MSAL never disposes it).</summary>
    internal sealed class MsalFactory : IMsalHttpClientFactory
    {
        public HttpClient GetHttpClient() => Client;
    }
}
