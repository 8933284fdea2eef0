# App-only sign-in (Microsoft Entra client credentials through MSAL) against a mock token endpoint
# over HTTPS on loopback (tests/MockMailServer/MockEntra*.cs), whose tokens the mock SMTP and POP3
# servers accept only for the app's mailboxes and only until they expire.
# The module runs in a child pwsh that trusts the test CA the way the operating system's trust
# store does: on Linux .NET reads OpenSSL's SSL_CERT_FILE, so no test-only switch exists in the
# module. Each child also gets a HOME of its own, so .NET's CurrentUser certificate stores (under
# HOME on Linux) are the test's alone.

BeforeAll {
    . (Join-Path $PSScriptRoot 'common.ps1')

    $authority = [MockMail.TestCertificates]::CreateAuthority('MailProtocols OAuth Test CA')
    $now = [DateTimeOffset]::UtcNow
    $serverCertificate = [MockMail.TestCertificates]::CreateServerCertificate($authority, 'localhost', $now.AddDays(-1), $now.AddDays(30))
    $caBundle = Join-Path $TestDrive 'ca.pem'
    Set-Content -Path $caBundle -Value ([MockMail.TestCertificates]::ToPem($authority)) -NoNewline

    function Invoke-AppChild {
        # Invoke-TrustingChild of common.ps1, with this file's test CA as the trusted one.
        param([string] $Body, [hashtable] $Data, [string] $HomeDir)
        Invoke-TrustingChild -Body $Body -Data $Data -HomeDir $HomeDir -CaBundle $caBundle
    }
}

Describe 'App-only sign-in with a client secret' {
    BeforeAll {
        $entra = [MockMail.MockEntra]::new($serverCertificate)
        $entra.Start()
        $secret = 'Cl1ent~Secret.Value_42'
        $wrongSecret = 'Wr0ng~Secret.Value_00'
        foreach ($app in 'app-send', 'app-renew', 'app-reuse', 'app-pop', 'app-gov') {
            $entra.AddApp('contoso', $app, $secret, [string[]]@('reports@contoso.com'))
        }
        $entra.SetTokenLifetime('app-renew', 301) # MSAL keeps a 5-minute margin: reused for 1 s only

        $mock = [MockMail.MockServer]::new()
        $mock.UseCertificate($serverCertificate)
        $mock.Entra = $entra
        $mock.Start()
        $null = $mock.AddTestMessages('reports@contoso.com', 3)

        # A second mail server whose idle timeout closes the connection between two rows of a
        # slow pipeline, so that the second row logs in again.
        $idle = [MockMail.MockServer]::new()
        $idle.UseCertificate($serverCertificate)
        $idle.Entra = $entra
        $idle.Smtp.IdleTimeoutSeconds = 2
        $idle.Start()

        # A token endpoint whose certificate no trusted CA signed.
        $otherAuthority = [MockMail.TestCertificates]::CreateAuthority('Untrusted CA')
        $untrusted = [MockMail.MockEntra]::new([MockMail.TestCertificates]::CreateServerCertificate($otherAuthority, 'localhost', $now.AddDays(-1), $now.AddDays(30)))
        $untrusted.Start()
        $untrusted.AddApp('contoso', 'app-send', $secret, [string[]]@('reports@contoso.com'))

        $outcome = Invoke-AppChild -Data @{
            Secret = $secret; WrongSecret = $wrongSecret; Authority = $entra.Authority; UntrustedAuthority = $untrusted.Authority
            SmtpPort = $mock.SmtpPort; Pop3Port = $mock.Pop3Port; IdlePort = $idle.SmtpPort; Transcript = (Join-Path $TestDrive 'secret-transcript.log')
        } -HomeDir (New-Item -ItemType Directory (Join-Path $TestDrive 'home-secret')).FullName -Body @'
$secure = ConvertTo-SecureString $p.Secret -AsPlainText -Force
$wrong = ConvertTo-SecureString $p.WrongSecret -AsPlainText -Force
$app = @{ TenantId = 'contoso'; ClientSecret = $secure; Authority = $p.Authority }
$smtp = @{ SmtpServer = 'localhost'; Port = $p.SmtpPort; TimeoutSec = 30; TranscriptPath = $p.Transcript }
$captured = Invoke-Captured {
    $r1 = Send-SmtpMessage @smtp @app -ClientId app-send -From 'Reports <reports@contoso.com>' -To 'a@example.com' -Subject 'First'
    $r2 = Send-SmtpMessage @smtp @app -ClientId app-send -From 'reports@contoso.com' -To 'b@example.com' -Subject 'Second'
    $outcome.Sent = @($r1, $r2 | ForEach-Object { $_.Accepted -join ',' })

    # Two rows 3.5 s apart over a server that closes an idle connection after 2 s: two logins.
    $rows = { 1..2 | ForEach-Object { if ($_ -eq 2) { Start-Sleep -Milliseconds 3500 }; [pscustomobject]@{ To = "row$_@example.com"; Subject = "Row $_" } } }
    $idleSmtp = @{ SmtpServer = 'localhost'; Port = $p.IdlePort; TimeoutSec = 30; From = 'reports@contoso.com' }
    $outcome.Renewed = @(& $rows | Send-SmtpMessage @idleSmtp @app -ClientId app-renew | ForEach-Object { $_.Accepted -join ',' })
    $outcome.Reused = @(& $rows | Send-SmtpMessage @idleSmtp @app -ClientId app-reuse | ForEach-Object { $_.Accepted -join ',' })

    $outcome.Pop3 = @(Get-Pop3Message -Pop3Server localhost -Port $p.Pop3Port -TimeoutSec 30 @app -ClientId app-pop -UserName reports@contoso.com -TranscriptPath $p.Transcript).Count
    $outcome.Pop3NoUser = Get-Failure { Get-Pop3Message -Pop3Server localhost -Port $p.Pop3Port @app -ClientId app-pop }

    $outcome.BadSecret = Get-Failure { Send-SmtpMessage @smtp -TenantId contoso -ClientId app-send -ClientSecret $wrong -Authority $p.Authority -From reports@contoso.com -To c@example.com }
    $outcome.UnknownApp = Get-Failure { Send-SmtpMessage @smtp @app -ClientId app-nobody -From reports@contoso.com -To c@example.com }
    $outcome.UnknownTenant = Get-Failure { Send-SmtpMessage @smtp -TenantId fabrikam -ClientId app-send -ClientSecret $secure -Authority $p.Authority -From reports@contoso.com -To c@example.com }
    $outcome.Pop3BadSecret = Get-Failure { Get-Pop3Message -Pop3Server localhost -Port $p.Pop3Port -TenantId contoso -ClientId app-pop -ClientSecret $wrong -Authority $p.Authority -UserName reports@contoso.com }
    $outcome.OtherMailbox = Get-Failure { Send-SmtpMessage @smtp @app -ClientId app-send -From ceo@contoso.com -To c@example.com }
    $outcome.Untrusted = Get-Failure { Send-SmtpMessage @smtp -SkipCertificateCheck -TenantId contoso -ClientId app-send -ClientSecret $secure -Authority $p.UntrustedAuthority -From reports@contoso.com -To c@example.com }
    try { Send-SmtpMessage @smtp @app -ClientId app-send -Authority 'http://localhost/' -From reports@contoso.com -To c@example.com -ErrorAction SilentlyContinue; $outcome.HttpAuthority = 'no error' }
    catch { $outcome.HttpAuthority = $_.FullyQualifiedErrorId }
    # An -Authority that is more than a base URL: the tenant (as a portal shows the authority), the
    # token endpoint itself, a query, a fragment.
    $base = $p.Authority.TrimEnd('/')
    $outcome.PathAuthority = @(foreach ($a in "$base/contoso", "$base/contoso.onmicrosoft.com/oauth2/v2.0/token", "$base/?tenant=contoso", "$base/#contoso") {
        try { Send-SmtpMessage @smtp @app -ClientId app-authority -Authority $a -From reports@contoso.com -To c@example.com -ErrorAction SilentlyContinue; @{ Authority = $a; Id = 'no error' } }
        catch { @{ Authority = $a; Id = $_.FullyQualifiedErrorId; Category = "$($_.CategoryInfo.Category)"; Message = $_.Exception.Message } }
    })
    # With -Authority, -Environment still chooses the resource the token is for.
    $outcome.GovScope = Get-Failure { Send-SmtpMessage @smtp @app -ClientId app-gov -Environment USGovernment -From reports@contoso.com -To c@example.com }
        try { Send-SmtpMessage @smtp -TenantId contoso -ClientId app-send -ClientSecret ([securestring]::new()) -Authority $p.Authority -From reports@contoso.com -To c@example.com -ErrorAction SilentlyContinue; $outcome.EmptySecret = 'no error' }
    catch { $outcome.EmptySecret = @{ Id = $_.FullyQualifiedErrorId; Category = "$($_.CategoryInfo.Category)" } }
}
$outcome.Text = $captured.Text + "`n" + (Get-Content -LiteralPath $p.Transcript -Raw)
'@
    }

    AfterAll {
        $mock.Dispose()
        $idle.Dispose()
        $entra.Dispose()
        $untrusted.Dispose()
    }

    It 'sends with a token for the -From mailbox, got with the client secret for the Exchange Online scope' {
        $outcome.Sent | Should -Be @('a@example.com', 'b@example.com')
        $requests = @($entra.Requests | Where-Object ClientId -EQ 'app-send' | Where-Object Error -EQ $null)
        $requests[0].Path | Should -Be '/contoso/oauth2/v2.0/token'
        $requests[0].Credential | Should -Be 'secret'
        $requests[0].Scope | Should -Be 'https://outlook.office365.com/.default'
        $sessions = @($mock.SmtpSessions | Where-Object AuthUser)
        $sessions.AuthUser | Sort-Object -Unique | Should -Be 'reports@contoso.com'
        $sessions.AuthMechanism | Sort-Object -Unique | Should -Be 'XOAUTH2'
    }

    It 'reuses the token within the process: two commands, one token request' {
        @($entra.Requests | Where-Object ClientId -EQ 'app-send' | Where-Object Error -EQ $null).Count | Should -Be 1
        @($entra.Requests | Where-Object ClientId -EQ 'app-reuse').Count | Should -Be 1
        $outcome.Reused | Should -Be @('row1@example.com', 'row2@example.com')
    }

    It 'renews a token about to expire when a long pipeline logs in again' {
        $outcome.Renewed | Should -Be @('row1@example.com', 'row2@example.com')
        @($idle.SmtpSessions | Where-Object AuthUser).Count | Should -Be 4 -Because 'each of the two pipelines logged in twice'
        @($entra.Requests | Where-Object ClientId -EQ 'app-renew').Count | Should -Be 2
    }

    It 'reads a POP3 mailbox named by -UserName' {
        $outcome.Pop3 | Should -Be 3
        $mock.Pop3Sessions[0].AuthMechanism | Should -Be 'XOAUTH2'
    }

    It 'asks for -UserName on POP3' {
        $outcome.Pop3NoUser.Id | Should -Be 'UserNameRequired,MailProtocols.Commands.GetPop3MessageCommand'
    }

    It 'reports <Case> as <Id> with <Code> and the fix, as a non-terminating error' -ForEach @(
        @{ Case = 'BadSecret'; Code = 'AADSTS7000215'; Id = 'ClientSecretInvalid'; Category = 'AuthenticationError'; Fix = 'not its Secret ID'; Command = 'SendSmtpMessageCommand' }
        @{ Case = 'UnknownApp'; Code = 'AADSTS700016'; Id = 'ApplicationNotFound'; Category = 'ObjectNotFound'; Fix = 'Application \(client\) ID to -ClientId'; Command = 'SendSmtpMessageCommand' }
        @{ Case = 'UnknownTenant'; Code = 'AADSTS90002'; Id = 'TenantNotFound'; Category = 'ObjectNotFound'; Fix = 'Directory \(tenant\) ID'; Command = 'SendSmtpMessageCommand' }
        @{ Case = 'Pop3BadSecret'; Code = 'AADSTS7000215'; Id = 'ClientSecretInvalid'; Category = 'AuthenticationError'; Fix = 'not its Secret ID'; Command = 'GetPop3MessageCommand' }
    ) {
        $failure = $outcome.$Case
        $failure.Id | Should -Be "$Id,MailProtocols.Commands.$Command"
        $failure.Category | Should -Be $Category
        $failure.Code | Should -Be $Code
        $failure.Message | Should -Match "$Code`:"
        $failure.Message | Should -Match $Fix
        $failure.Message | Should -Not -Match 'Trace ID'
        $failure.NextLineRan | Should -BeTrue -Because 'a refused token is a non-terminating error'
        $failure.Errors | Should -Be 1
    }

    It 'opens no mail connection when no token came (the token is got first)' {
        @($mock.Pop3Sessions).Count | Should -Be 1 -Because 'only the POP3 read that had a token connected'
    }

    It 'sends nothing when no token came' {
        $mock.Messages.To | Should -Not -Contain 'c@example.com'
        @($mock.Messages).Count | Should -Be 2
    }

    It 'gets no login for a mailbox the app has no permission for' {
        $outcome.OtherMailbox.Id | Should -Be 'AuthenticationFailed,MailProtocols.Commands.SendSmtpMessageCommand'
    }

    It 'checks the token endpoint''s certificate even with -SkipCertificateCheck' {
        $outcome.Untrusted.Id | Should -Be 'OAuthTokenEndpointUnreachable,MailProtocols.Commands.SendSmtpMessageCommand'
        $untrusted.Requests | Should -BeNullOrEmpty
    }

    It 'refuses an -Authority that is not https before any work' {
        $outcome.HttpAuthority | Should -Be 'InvalidAuthority,MailProtocols.Commands.SendSmtpMessageCommand'
    }

    It 'refuses an -Authority with a path, query or fragment (the tenant comes from -TenantId) before any work' {
        $outcome.PathAuthority.Count | Should -Be 4
        foreach ($refused in $outcome.PathAuthority) {
            $refused.Id | Should -Be 'InvalidAuthority,MailProtocols.Commands.SendSmtpMessageCommand' -Because $refused.Authority
            $refused.Category | Should -Be 'InvalidArgument'
            $refused.Message | Should -Match 'no path, query or fragment'
            $refused.Message | Should -Match 'scope from -Environment'
        }
        $entra.Requests | Where-Object ClientId -EQ 'app-authority' | Should -BeNullOrEmpty
    }

    It 'asks the -Authority for a token for the scope of -Environment' {
        $request = @($entra.Requests | Where-Object ClientId -EQ 'app-gov')
        $request.Count | Should -Be 1
        $request[0].Path | Should -Be '/contoso/oauth2/v2.0/token'
        $request[0].Scope | Should -Be 'https://outlook.office365.us/.default'
        # This endpoint only issues tokens for the global resource.
        $outcome.GovScope.Id | Should -Be 'OAuthTokenFailed,MailProtocols.Commands.SendSmtpMessageCommand'
        $outcome.GovScope.Code | Should -Be 'AADSTS1002012'
    }

    It 'refuses an empty -ClientSecret before any work, with a stable ErrorId' {
        $outcome.EmptySecret.Id | Should -Be 'ClientSecretEmpty,MailProtocols.Commands.SendSmtpMessageCommand'
        $outcome.EmptySecret.Category | Should -Be 'InvalidArgument'
    }

    It 'shows no secret, token or assertion in any stream, error or transcript' {
        $entra.Secrets.Count | Should -BeGreaterOrEqual 4
        $outcome.Text | Should -Match 'Access token for ''reports@contoso.com'''
        Assert-NoSecret -Text $outcome.Text -Secret (@($secret, $wrongSecret) + $entra.Secrets)
    }
}

Describe 'App-only sign-in with a certificate' {
    BeforeAll {
        $entra = [MockMail.MockEntra]::new($serverCertificate)
        $entra.Start()
        $appAuthority = [MockMail.TestCertificates]::CreateAuthority('Contoso App Certificates')
        $appCertificate = [MockMail.TestCertificates]::CreateServerCertificate($appAuthority, 'mail-app.contoso.com', $now.AddDays(-1), $now.AddDays(300))
        $strangerCertificate = [MockMail.TestCertificates]::CreateServerCertificate($appAuthority, 'stranger.contoso.com', $now.AddDays(-1), $now.AddDays(300))
        $expiredCertificate = [MockMail.TestCertificates]::CreateServerCertificate($appAuthority, 'expired.contoso.com', $now.AddDays(-30), $now.AddDays(-1))
        foreach ($app in 'app-thumb', 'app-object', 'app-pop', 'app-dispose') {
            $entra.AddApp('contoso', $app, $appCertificate, [string[]]@('reports@contoso.com'))
        }
        $entra.AddApp('contoso', 'app-expired', $expiredCertificate, [string[]]@('reports@contoso.com'))
        $entra.SetTokenLifetime('app-dispose', 301) # MSAL keeps a 5-minute margin: reused for 1 s only
        $mock = [MockMail.MockServer]::new()
        $mock.UseCertificate($serverCertificate)
        $mock.Entra = $entra
        $mock.Start()
        $null = $mock.AddTestMessages('reports@contoso.com', 2)

        $pfxPassword = 'Pfx!Pa55word'
        $pfx = Join-Path $TestDrive 'app.pfx'
        $strangerPfx = Join-Path $TestDrive 'stranger.pfx'
        $expiredPfx = Join-Path $TestDrive 'expired.pfx'
        [IO.File]::WriteAllBytes($expiredPfx, $expiredCertificate.Export('Pfx', $pfxPassword))
        [IO.File]::WriteAllBytes($pfx, $appCertificate.Export('Pfx', $pfxPassword))
        [IO.File]::WriteAllBytes($strangerPfx, $strangerCertificate.Export('Pfx', $pfxPassword))
        $certHome = (New-Item -ItemType Directory (Join-Path $TestDrive 'home-cert')).FullName

        $outcome = Invoke-AppChild -HomeDir $certHome -Data @{
            Authority = $entra.Authority; SmtpPort = $mock.SmtpPort; Pop3Port = $mock.Pop3Port; Pfx = $pfx; StrangerPfx = $strangerPfx; ExpiredPfx = $expiredPfx
            Password = $pfxPassword; Thumbprint = $appCertificate.Thumbprint; Transcript = (Join-Path $TestDrive 'cert-transcript.log')
        } -Body @'
$X509 = [System.Security.Cryptography.X509Certificates.X509Certificate2]
$app = @{ TenantId = 'contoso'; Authority = $p.Authority }
$smtp = @{ SmtpServer = 'localhost'; Port = $p.SmtpPort; TimeoutSec = 30; TranscriptPath = $p.Transcript; From = 'reports@contoso.com' }
# The app's certificate with its key in this account's personal store (under this child's own
# HOME on Linux), as Import-PfxCertificate puts it there on Windows; removed again below.
$store = [System.Security.Cryptography.X509Certificates.X509Store]::new('My', 'CurrentUser')
$store.Open('ReadWrite')
$store.Add($X509::new($p.Pfx, $p.Password, 'Exportable, PersistKeySet'))
try {
    $captured = Invoke-Captured {
        $outcome.Thumbprint = (Send-SmtpMessage @smtp @app -ClientId app-thumb -CertificateThumbprint $p.Thumbprint.ToLowerInvariant() -To 'thumb@example.com').Accepted -join ','
        $outcome.Object = (Send-SmtpMessage @smtp @app -ClientId app-object -Certificate ($X509::new($p.Pfx, $p.Password)) -To 'object@example.com').Accepted -join ','
        $outcome.Pop3 = @(Get-Pop3Message -Pop3Server localhost -Port $p.Pop3Port -TimeoutSec 30 @app -ClientId app-pop -CertificateThumbprint $p.Thumbprint -UserName reports@contoso.com).Count
        $outcome.NotFound = Get-Failure { Send-SmtpMessage @smtp @app -ClientId app-thumb -CertificateThumbprint ('AB' * 20) -To 'x@example.com' }
        $outcome.NoKey = Get-Failure { Send-SmtpMessage @smtp @app -ClientId app-object -Certificate ($X509::new($X509::new($p.Pfx, $p.Password).RawData)) -To 'x@example.com' }
        $outcome.Stranger = Get-Failure { Send-SmtpMessage @smtp @app -ClientId app-object -Certificate ($X509::new($p.StrangerPfx, $p.Password)) -To 'x@example.com' }
        $outcome.Expired = Get-Failure { Send-SmtpMessage @smtp @app -ClientId app-expired -Certificate ($X509::new($p.ExpiredPfx, $p.Password)) -To 'x@example.com' }
        $outcome.DialogThumbprint = (Send-SmtpMessage @smtp @app -ClientId app-thumb -CertificateThumbprint ([char]0x200E + ($p.Thumbprint -replace '(..)', '$1 ').Trim()) -To 'dialog@example.com').Accepted -join ','
        $outcome.DialogNotFound = Get-Failure { Send-SmtpMessage @smtp @app -ClientId app-thumb -CertificateThumbprint ([char]0x200E + 'AB' * 20) -To 'x@example.com' }
        $outcome.ShortThumbprint = Get-Failure { Send-SmtpMessage @smtp @app -ClientId app-thumb -CertificateThumbprint 'AB12' -To 'x@example.com' }

        # The process keeps the app (and its token cache) after the command; the caller may then
        # dispose its certificate object, and a later sign-in with another object must still work.
        $first = $X509::new($p.Pfx, $p.Password)
        $outcome.BeforeDispose = (Send-SmtpMessage @smtp @app -ClientId app-dispose -Certificate $first -To 'first@example.com').Accepted -join ','
        $first.Dispose()
        Start-Sleep -Milliseconds 1500
        $outcome.AfterDispose = (Send-SmtpMessage @smtp @app -ClientId app-dispose -Certificate ($X509::new($p.Pfx, $p.Password)) -To 'second@example.com' -ErrorAction SilentlyContinue).Accepted -join ','
        $outcome.AfterDisposeError = "$($Error[0])"
    }
}
finally {
    foreach ($c in @($store.Certificates.Find('FindByThumbprint', $p.Thumbprint, $false))) { $store.Remove($c) }
    $outcome.LeftInStore = $store.Certificates.Count
    $store.Dispose()
}
$outcome.Text = $captured.Text + "`n" + (Get-Content -LiteralPath $p.Transcript -Raw)
'@
    }

    AfterAll {
        $mock.Dispose()
        $entra.Dispose()
    }

    It 'signs in with the certificate found by its thumbprint in CurrentUser\My' {
        $outcome.Thumbprint | Should -Be 'thumb@example.com'
        $requests = @($entra.Requests | Where-Object ClientId -EQ 'app-thumb')
        $requests.Count | Should -Be 1
        $requests[0].Credential | Should -Be 'assertion'
        $requests[0].Error | Should -BeNullOrEmpty
    }

    It 'signs in with a certificate object' {
        $outcome.Object | Should -Be 'object@example.com'
    }

    It 'reads a POP3 mailbox with the certificate' {
        $outcome.Pop3 | Should -Be 2
    }

    It 'used the store under the child''s own HOME and left it empty' {
        Join-Path $certHome '.dotnet/corefx/cryptography/x509stores/my' | Should -Exist
        $outcome.LeftInStore | Should -Be 0
    }

    It 'reports a thumbprint in no store as CertificateNotFound' {
        $outcome.NotFound.Id | Should -Be 'CertificateNotFound,MailProtocols.Commands.SendSmtpMessageCommand'
        $outcome.NotFound.Category | Should -Be 'ObjectNotFound'
    }

    It 'reports a certificate without its private key as CertificateHasNoPrivateKey' {
        $outcome.NoKey.Id | Should -Be 'CertificateHasNoPrivateKey,MailProtocols.Commands.SendSmtpMessageCommand'
    }

    It 'gets no token with a certificate the app does not have (the signature is checked)' {
        $outcome.Stranger.Id | Should -Be 'ClientCertificateNotAccepted,MailProtocols.Commands.SendSmtpMessageCommand'
        $outcome.Stranger.Code | Should -Be 'AADSTS700027'
        $outcome.Stranger.Message | Should -Match 'upload its public key'
        $mock.Messages.To | Should -Not -Contain 'x@example.com'
    }

    It 'reports an expired certificate as CertificateExpired before asking for a token' {
        $outcome.Expired.Id | Should -Be 'CertificateExpired,MailProtocols.Commands.SendSmtpMessageCommand'
        $outcome.Expired.Category | Should -Be 'InvalidArgument'
        $outcome.Expired.Message | Should -Match 'Upload a new certificate to the app registration'
        $entra.Requests | Where-Object ClientId -EQ 'app-expired' | Should -BeNullOrEmpty
    }

    It 'finds a thumbprint copied from the Windows certificate dialog (U+200E, spaces)' {
        $outcome.DialogThumbprint | Should -Be 'dialog@example.com'
        $outcome.DialogNotFound.Id | Should -Be 'CertificateNotFound,MailProtocols.Commands.SendSmtpMessageCommand'
        $outcome.DialogNotFound.Message | Should -Match ('AB' * 20)
        $outcome.DialogNotFound.Message | Should -Not -Match ([char]0x200E) -Because 'the message shows the digits that were looked for'
    }

    It 'reports a thumbprint that is not 40 hex digits as InvalidCertificateThumbprint' {
        $outcome.ShortThumbprint.Id | Should -Be 'InvalidCertificateThumbprint,MailProtocols.Commands.SendSmtpMessageCommand'
        $outcome.ShortThumbprint.Message | Should -Match '40 hex digits'
    }

    It 'still signs in after the caller disposed the certificate object of the first sign-in' {
        $outcome.BeforeDispose | Should -Be 'first@example.com'
        $outcome.AfterDispose | Should -Be 'second@example.com' -Because $outcome.AfterDisposeError
        @($entra.Requests | Where-Object ClientId -EQ 'app-dispose' | Where-Object Error -EQ $null).Count | Should -Be 2
    }

    It 'shows no token or client assertion in any stream, error or transcript' {
        @($entra.Requests | Where-Object Credential -EQ 'assertion').Count | Should -BeGreaterOrEqual 4
        Assert-NoSecret -Text $outcome.Text -Secret (@($entra.Secrets) + $pfxPassword)
    }
}

# A refused token the way a scheduled task meets it: `pwsh -NonInteractive -File` with no
# preference variable set (Invoke-ScriptTask of common.ps1). The refusal is an ordinary error:
# the script goes on to its next line unless the line says -ErrorAction Stop, which ends it with
# exit code 1. A statement-terminating error would let that line run on as well.
Describe 'A refused token in a script run as a scheduled task' {
    BeforeAll {
        $entra = [MockMail.MockEntra]::new($serverCertificate)
        $entra.Start()
        $secret = 'Task~Secret.Value_7'
        $entra.AddApp('contoso', 'app-task', $secret, [string[]]@('reports@contoso.com'))
        # A resource no app here may have: a right secret still gets no token (AADSTS1002012), an
        # AADSTS code with no hint of its own.
        $entra.ExpectedScope = 'https://resource.invalid/.default'
        $mock = [MockMail.MockServer]::new()
        $mock.UseCertificate($serverCertificate)
        $mock.Entra = $entra
        $mock.Start()

        function Invoke-AppTask {
            # Invoke-ScriptTask, its child trusting this file's test CA as the system's trust store.
            param([string] $Body)
            $saved = $env:SSL_CERT_FILE
            try {
                $env:SSL_CERT_FILE = $caBundle
                Invoke-ScriptTask $mock $Body
            }
            finally { $env:SSL_CERT_FILE = $saved }
        }
    }

    AfterAll {
        $mock.Dispose()
        $entra.Dispose()
    }

    Context '<Case>' -ForEach @(
        @{ Case = 'a wrong client secret'; Secret = 'Wr0ng~Task.Secret_0'; ErrorId = 'ClientSecretInvalid'; Code = 'AADSTS7000215' }
        @{ Case = 'a refusal with no hint of its own'; Secret = 'Task~Secret.Value_7'; ErrorId = 'OAuthTokenFailed'; Code = 'AADSTS1002012' }
    ) {
        BeforeAll {
            $send = "Send-SmtpMessage -SmtpServer localhost -Port `$SmtpPort -TenantId contoso -ClientId app-task -Authority '$($entra.Authority)' " +
                "-ClientSecret (ConvertTo-SecureString '$Secret' -AsPlainText -Force) -From reports@contoso.com -To task@example.com -Subject 'Nightly' -TimeoutSec 30"
        }

        It 'writes <ErrorId> (<Code>) and runs the next line; -ErrorVariable holds the ErrorId' {
            $run = Invoke-AppTask "$send -ErrorVariable ev`n`"ok=`$?`"`n`"id=`$(`$ev[0].FullyQualifiedErrorId)`"`n`"code=`$(`$ev[0].Exception.ServiceErrorCode)`"`n`"count=`$(`$ev.Count)`"`n'NEXT-LINE-RAN'"
            $run.ExitCode | Should -Be 0 -Because $run.Output
            $run.NextLineRan | Should -BeTrue
            $run.Lines | Should -Contain 'ok=False'
            $run.Lines | Should -Contain "id=$ErrorId,MailProtocols.Commands.SendSmtpMessageCommand"
            $run.Lines | Should -Contain "code=$Code"
            $run.Lines | Should -Contain 'count=1'
            $run.Output | Should -Match "$Code`:" -Because 'the error is printed with Entra''s reply'
        }

        It 'stops the script with -ErrorAction Stop: exit code 1, the next line never runs' {
            $run = Invoke-AppTask "$send -ErrorAction Stop`n'NEXT-LINE-RAN'"
            $run.ExitCode | Should -Be 1 -Because $run.Output
            $run.NextLineRan | Should -BeFalse
            $run.Output | Should -Match $Code
        }

        It 'sends nothing and opens no mail connection' {
            $mock.Messages | Should -BeNullOrEmpty
            $mock.SmtpSessions | Should -BeNullOrEmpty
        }
    }
}
