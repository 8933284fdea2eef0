# The token requests follow no redirect: a token endpoint has no reason to send one, and a 307 or
# 308 would make the client POST the Google assertion or the Entra client secret again to wherever
# it points. Each token endpoint here is a loopback HTTPS redirector (tests/MockMailServer/
# RedirectingHttps.cs) whose redirect points at a mock token endpoint that would issue a valid
# token: followed, the send would succeed. The module runs in a child pwsh that trusts the test CA
# through SSL_CERT_FILE, as the system trust store would.

BeforeAll {
    . (Join-Path $PSScriptRoot 'common.ps1')

    $authority = [MockMail.TestCertificates]::CreateAuthority('MailProtocols Redirect Test CA')
    $now = [DateTimeOffset]::UtcNow
    $serverCertificate = [MockMail.TestCertificates]::CreateServerCertificate($authority, 'localhost', $now.AddDays(-1), $now.AddDays(30))
    $caBundle = Join-Path $TestDrive 'ca.pem'
    Set-Content -Path $caBundle -Value ([MockMail.TestCertificates]::ToPem($authority)) -NoNewline
    $mailbox = 'reports@contoso.com'
    $secret = 'Cl1ent~Secret.Value_42'

    $google = [MockMail.MockGoogle]::new($serverCertificate)
    $google.Start()
    $entra = [MockMail.MockEntra]::new($serverCertificate)
    $entra.Start()
    $mock = [MockMail.MockServer]::new()
    $mock.UseCertificate($serverCertificate)
    $mock.Google = $google
    $mock.Entra = $entra
    $mock.Start()

    $keyDir = New-Item -ItemType Directory (Join-Path $TestDrive 'keys')
    $keys = @{}
    $redirectors = @{}
    foreach ($name in 'direct', 'redirected307', 'redirected308') {
        $key = $google.AddServiceAccount("$name@contoso-mail.iam.gserviceaccount.com", [string[]]@('https://mail.google.com/'), [string[]]@($mailbox))
        $entra.AddApp('contoso', "app-$name", $secret, [string[]]@($mailbox))
        if ($name -ne 'direct') {
            $redirectors[$name] = [MockMail.RedirectingHttps]::new($serverCertificate, $google.TokenUri)
            $redirectors[$name].Status = [int]$name.Substring($name.Length - 3)
            $redirectors[$name].Start()
            $key = $key.Replace($google.TokenUri, $redirectors[$name].BaseUri + 'token')
            $redirectors["entra-$name"] = [MockMail.RedirectingHttps]::new($serverCertificate, $entra.Authority)
            $redirectors["entra-$name"].Status = $redirectors[$name].Status
            $redirectors["entra-$name"].Start()
        }
        $keys[$name] = Join-Path $keyDir "$name.json"
        Set-Content -LiteralPath $keys[$name] -Value $key -NoNewline
    }

    $outcome = Invoke-TrustingChild -CaBundle $caBundle -HomeDir (New-Item -ItemType Directory (Join-Path $TestDrive 'home')).FullName -Data @{
        Keys = $keys; SmtpPort = $mock.SmtpPort; Secret = $secret; Authority = $entra.Authority
        EntraRedirect = @{ redirected307 = $redirectors['entra-redirected307'].BaseUri; redirected308 = $redirectors['entra-redirected308'].BaseUri }
    } -Body @'
$smtp = @{ SmtpServer = 'localhost'; Port = $p.SmtpPort; TimeoutSec = 30; From = 'reports@contoso.com'; To = 'a@example.com'; Subject = 'x' }
$secure = ConvertTo-SecureString $p.Secret -AsPlainText -Force
function Get-Outcome([scriptblock] $Command) {
    try { $sent = & $Command -ErrorAction Stop; @{ Id = 'sent'; Accepted = @($sent.Accepted) } }
    catch { @{ Id = $_.FullyQualifiedErrorId; Message = $_.Exception.Message } }
}
foreach ($name in 'direct', 'redirected307', 'redirected308') {
    $outcome["google-$name"] = Get-Outcome { Send-SmtpMessage @smtp -ServiceAccountKeyPath $p.Keys.$name @args }
    $authority = if ($name -eq 'direct') { $p.Authority } else { $p.EntraRedirect.$name }
    $outcome["entra-$name"] = Get-Outcome { Send-SmtpMessage @smtp -TenantId contoso -ClientId "app-$name" -ClientSecret $secure -Authority $authority @args }
}
'@
}

AfterAll {
    $mock.Dispose()
    $google.Dispose()
    $entra.Dispose()
    foreach ($redirector in $redirectors.Values) { $redirector.Dispose() }
}

Describe 'A token endpoint that redirects' {
    It 'the mock endpoints issue tokens without a redirect (so a followed redirect would succeed)' {
        $outcome.'google-direct'.Id | Should -Be 'sent'
        $outcome.'entra-direct'.Id | Should -Be 'sent'
        @($mock.SmtpSessions | Where-Object AuthUser) | Should -HaveCount 2 -Because 'only the two direct sends got a token to log in with'
    }

    It 'Google (<Status>): an error, one POST to the key file''s token_uri, none where the redirect points' -ForEach @(
        @{ Status = 307; Name = 'redirected307' }
        @{ Status = 308; Name = 'redirected308' }
    ) {
        $result = $outcome."google-$Name"
        $result.Id | Should -BeLike 'OAuthTokenEndpointUnreachable,*'
        $result.Message | Should -Match "HTTP $Status, a redirect, which is not followed"
        $redirectors[$Name].Requests | Should -Be @('POST /token')
        @($google.Requests | Where-Object Issuer -Like "$Name@*") | Should -BeNullOrEmpty
    }

    It 'Microsoft Entra ID through MSAL (<Status>): an error, one POST to the authority, none where the redirect points' -ForEach @(
        @{ Status = 307; Name = 'redirected307' }
        @{ Status = 308; Name = 'redirected308' }
    ) {
        $result = $outcome."entra-$Name"
        $result.Id | Should -Not -Be 'sent'
        $result.Id | Should -BeLike 'OAuthToken*'
        $redirectors["entra-$Name"].Requests | Should -Be @('POST /contoso/oauth2/v2.0/token')
        @($entra.Requests | Where-Object ClientId -EQ "app-$Name") | Should -BeNullOrEmpty
    }
}
