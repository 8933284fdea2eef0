using System;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text.Json;

namespace MockMail;

/// <summary>
/// Checks a certificate-signed client assertion (RFC 7523) as Entra ID does: a JWT signed with
/// RS256 or PS256 by the registered certificate's key, issued by and about the client, for the
/// token endpoint, and within its valid time range.
/// </summary>
internal static class ClientAssertion
{
    private static readonly TimeSpan Skew = TimeSpan.FromMinutes(5);

    /// <summary>Null when the assertion is good; else what is wrong, and whether it is only its time.</summary>
    public static (string Text, bool Expired)? Check(string jwt, X509Certificate2 certificate, string clientId, string tokenEndpoint, DateTime now)
    {
        var parsed = Jwt.Parse(jwt, out var problem);
        if (parsed == null)
        {
            return ("not a signed JWT: " + problem, false);
        }

        var claims = parsed.Claims;
        var alg = Jwt.Text(parsed.Header, "alg");
        var padding = alg switch
        {
            "RS256" => RSASignaturePadding.Pkcs1,
            "PS256" => RSASignaturePadding.Pss,
            _ => null,
        };
        if (padding == null)
        {
            return ($"the algorithm '{alg}' is not accepted", false);
        }

        using var key = certificate.GetRSAPublicKey();
        if (key == null || !parsed.Verifies(key, padding))
        {
            return ("the signature does not verify with the registered certificate's key", false);
        }

        if (Jwt.Text(claims, "aud") != tokenEndpoint)
        {
            return ($"the audience '{Jwt.Text(claims, "aud")}' is not the token endpoint {tokenEndpoint}", false);
        }

        if (Jwt.Text(claims, "iss") != clientId || Jwt.Text(claims, "sub") != clientId)
        {
            return ("the issuer and subject must both be the client id", false);
        }

        if (Seconds(claims, "exp") is not long expires || DateTimeOffset.FromUnixTimeSeconds(expires).UtcDateTime + Skew < now)
        {
            return ("the assertion has expired (or has no exp)", true);
        }

        if (Seconds(claims, "nbf") is long notBefore && DateTimeOffset.FromUnixTimeSeconds(notBefore).UtcDateTime - Skew > now)
        {
            return ("the assertion is not valid yet", true);
        }

        return null;
    }

    /// <summary>A time claim: a JSON number, or (as MSAL writes them) a string of digits.</summary>
    private static long? Seconds(JsonElement claims, string name)
    {
        if (!claims.TryGetProperty(name, out var value))
        {
            return null;
        }

        if (value.ValueKind == JsonValueKind.Number && value.TryGetInt64(out var number))
        {
            return number;
        }

        return value.ValueKind == JsonValueKind.String && long.TryParse(value.GetString(), out var parsed) ? parsed : null;
    }
}
