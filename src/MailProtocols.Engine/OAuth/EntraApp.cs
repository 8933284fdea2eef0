using System;
using System.Security.Cryptography.X509Certificates;

namespace MailProtocols.Engine.OAuth;

/// <summary>An app registration in Microsoft Entra ID that signs in as itself (client
/// credentials), with a client secret or a certificate.</summary>
public sealed class EntraApp
{
    public string TenantId { get; set; } = "";

    public string ClientId { get; set; } = "";

    /// <summary>The client secret's value; null when a certificate signs in.</summary>
    public string? ClientSecret { get; set; }

    /// <summary>A certificate with its private key; null when a secret signs in.</summary>
    public X509Certificate2? Certificate { get; set; }

    public MicrosoftCloud Cloud { get; set; } = MicrosoftCloud.Global;

    /// <summary>Another authority than the cloud's (a test endpoint, a cloud not listed): its
    /// base URL, to which the tenant is appended. Instance discovery is off for it, so MSAL asks
    /// nothing of Microsoft's own hosts.</summary>
    public Uri? Authority { get; set; }

    /// <summary>The authority URL MSAL signs in at: the base, then the tenant.</summary>
    public Uri AuthorityUri
    {
        get
        {
            var root = (Authority ?? MicrosoftClouds.AuthorityHost(Cloud)).AbsoluteUri;
            return new Uri(root.TrimEnd('/') + "/" + Uri.EscapeDataString(TenantId) + "/");
        }
    }

    public string Scope => MicrosoftClouds.ExchangeScope(Cloud);
}
