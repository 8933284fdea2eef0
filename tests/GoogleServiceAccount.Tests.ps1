# Google Workspace mailboxes through a service account with domain-wide delegation
# (-ServiceAccountKeyPath), against a mock Google token endpoint over HTTPS on loopback
# (tests/MockMailServer/MockGoogle.cs) that checks the signed assertion and whose tokens the mock
# SMTP and POP3 servers accept only for the mailbox they were issued for. The module runs in a
# child pwsh that trusts the test CA through SSL_CERT_FILE, as the system trust store would.

BeforeAll {
    . (Join-Path $PSScriptRoot 'common.ps1')

    $authority = [MockMail.TestCertificates]::CreateAuthority('MailProtocols Google Test CA')
    $now = [DateTimeOffset]::UtcNow
    $serverCertificate = [MockMail.TestCertificates]::CreateServerCertificate($authority, 'localhost', $now.AddDays(-1), $now.AddDays(30))
    $caBundle = Join-Path $TestDrive 'ca.pem'
    Set-Content -Path $caBundle -Value ([MockMail.TestCertificates]::ToPem($authority)) -NoNewline

    $google = [MockMail.MockGoogle]::new($serverCertificate)
    $google.Start()
    $mailScope = [string[]]@('https://mail.google.com/')
    $mailbox = 'reports@contoso.com'
    $keys = @{}
    foreach ($name in 'mailer', 'renew', 'pop') {
        $keys[$name] = $google.AddServiceAccount("$name@contoso-mail.iam.gserviceaccount.com", $mailScope, [string[]]@($mailbox))
    }
    $google.SetTokenLifetime('renew@contoso-mail.iam.gserviceaccount.com', 301) # renewed 5 minutes early: reused for 1 s only
    $keys.NoDelegation = $google.AddServiceAccount('nodelegation@contoso-mail.iam.gserviceaccount.com', [string[]]@(), [string[]]@($mailbox))
    $keys.SendOnly = $google.AddServiceAccount('sendonly@contoso-mail.iam.gserviceaccount.com', [string[]]@('https://www.googleapis.com/auth/gmail.send'), [string[]]@($mailbox))
    $noDelegationClientId = $google.ClientIdOf('nodelegation@contoso-mail.iam.gserviceaccount.com')

    # Where an http token_uri points: a plain listener that records whether anything came.
    $plain = [System.Net.Sockets.TcpListener]::new([System.Net.IPAddress]::Loopback, 0)
    $plain.Start()
    $mailer = $keys.mailer | ConvertFrom-Json
    $keys.HttpTokenUri = $keys.mailer.Replace($mailer.token_uri, "http://localhost:$($plain.LocalEndpoint.Port)/token")

    # A token endpoint whose certificate no trusted CA signed, with the same account.
    $otherAuthority = [MockMail.TestCertificates]::CreateAuthority('Untrusted CA')
    $untrusted = [MockMail.MockGoogle]::new([MockMail.TestCertificates]::CreateServerCertificate($otherAuthority, 'localhost', $now.AddDays(-1), $now.AddDays(30)))
    $untrusted.Start()
    $keys.Untrusted = $untrusted.AddServiceAccount('mailer@contoso-mail.iam.gserviceaccount.com', $mailScope, [string[]]@($mailbox))

    # The account's key deleted in the console and another key's private part in its place: the
    # signature no longer verifies.
    $revoked = $keys.mailer | ConvertFrom-Json
    $revoked.private_key = ($keys.pop | ConvertFrom-Json).private_key
    $keys.RevokedKey = $revoked | ConvertTo-Json

    # An endpoint that takes the token request and never answers: -TimeoutSec and Ctrl+C must end the wait.
    $hanging = [MockMail.MockGoogle]::new($serverCertificate)
    $hanging.HangSeconds = 30
    $hanging.Start()
    $keys.Hanging = $hanging.AddServiceAccount('mailer@contoso-mail.iam.gserviceaccount.com', $mailScope, [string[]]@($mailbox))

    # What one path holds in turn: the account's first key, its second (rotated in the console),
    # and the second's key id with the first's private part, which no token may be handed out for.
    $rotateEmail = 'rotate@contoso-mail.iam.gserviceaccount.com'
    $rotation = @($google.AddServiceAccount($rotateEmail, $mailScope, [string[]]@($mailbox)))
    $rotation += $google.AddKey($rotateEmail)
    $swapped = $rotation[1] | ConvertFrom-Json
    $swapped.private_key = ($rotation[0] | ConvertFrom-Json).private_key
    $rotation += $swapped | ConvertTo-Json
    $rotationKeyIds = @($rotation | ForEach-Object { ($_ | ConvertFrom-Json).private_key_id })

    # Key files that are not service account keys.
    $keys.NotJson = 'type=service_account'
    $keys.NotServiceAccount = '{ "type": "authorized_user", "client_id": "1", "client_secret": "x", "refresh_token": "y" }'
    $keys.NoPrivateKey = ($mailer | Select-Object * -ExcludeProperty private_key | ConvertTo-Json)
    $keys.BadPem = $keys.mailer.Replace('MII', 'MIX')

    $keyDir = New-Item -ItemType Directory (Join-Path $TestDrive 'keys')
    $keyPaths = @{}
    foreach ($name in $keys.Keys) {
        $keyPaths[$name] = Join-Path $keyDir "$name.json"
        Set-Content -LiteralPath $keyPaths[$name] -Value $keys[$name] -NoNewline
    }
    $keyPaths.Missing = Join-Path $keyDir 'missing.json'

    $mock = [MockMail.MockServer]::new()
    $mock.UseCertificate($serverCertificate)
    $mock.Google = $google
    $mock.Start()
    $null = $mock.AddTestMessages($mailbox, 3)

    $outcome = Invoke-TrustingChild -CaBundle $caBundle -HomeDir (New-Item -ItemType Directory (Join-Path $TestDrive 'home')).FullName -Data @{
        Keys = $keyPaths; SmtpPort = $mock.SmtpPort; Pop3Port = $mock.Pop3Port; Transcript = (Join-Path $TestDrive 'transcript.log')
        KeyDir = $keyDir.FullName; Rotation = $rotation; RotatePath = (Join-Path $keyDir 'rotate.json')
    } -Body @'
$smtp = @{ SmtpServer = 'localhost'; Port = $p.SmtpPort; TimeoutSec = 30; TranscriptPath = $p.Transcript; To = 'a@example.com' }
$captured = Invoke-Captured {
    $r1 = Send-SmtpMessage @smtp -ServiceAccountKeyPath $p.Keys.mailer -From 'Reports <reports@contoso.com>' -Subject 'First'
    $r2 = Send-SmtpMessage @smtp -ServiceAccountKeyPath $p.Keys.mailer -From 'reports@contoso.com' -Subject 'Second'
    $outcome.Sent = @($r1, $r2 | ForEach-Object { $_.Accepted -join ',' })

    $outcome.Renewed = @(foreach ($n in 1..2) {
        if ($n -eq 2) { Start-Sleep -Milliseconds 1500 }
        (Send-SmtpMessage @smtp -ServiceAccountKeyPath $p.Keys.renew -From reports@contoso.com -Subject "Renew $n").Accepted -join ','
    })

    $outcome.Pop3 = @(Get-Pop3Message -Pop3Server localhost -Port $p.Pop3Port -TimeoutSec 30 -ServiceAccountKeyPath $p.Keys.pop -UserName reports@contoso.com -TranscriptPath $p.Transcript).Count
    $outcome.Pop3NoUser = Get-Failure { Get-Pop3Message -Pop3Server localhost -Port $p.Pop3Port -ServiceAccountKeyPath $p.Keys.pop }

    $outcome.NoDelegation = Get-Failure { Send-SmtpMessage @smtp -ServiceAccountKeyPath $p.Keys.NoDelegation -From reports@contoso.com -Subject 'x' }
    $outcome.SendOnly = Get-Failure { Send-SmtpMessage @smtp -ServiceAccountKeyPath $p.Keys.SendOnly -From reports@contoso.com -Subject 'x' }
    $outcome.RevokedKey = Get-Failure { Send-SmtpMessage @smtp -ServiceAccountKeyPath $p.Keys.RevokedKey -From reports@contoso.com -Subject 'x' }
    $outcome.WrongUser = Get-Failure { Send-SmtpMessage @smtp -ServiceAccountKeyPath $p.Keys.mailer -From ceo@contoso.com -Subject 'x' }
    $outcome.Pop3WrongUser = Get-Failure { Get-Pop3Message -Pop3Server localhost -Port $p.Pop3Port -ServiceAccountKeyPath $p.Keys.pop -UserName ceo@contoso.com }
    foreach ($name in 'NotJson', 'NotServiceAccount', 'NoPrivateKey', 'BadPem', 'Missing', 'HttpTokenUri') {
        $outcome[$name] = Get-Failure { Send-SmtpMessage @smtp -ServiceAccountKeyPath $p.Keys.$name -From reports@contoso.com -Subject 'x' }
    }
    # Relative to the current location, as PowerShell resolves paths, not to the process's directory.
    Push-Location -LiteralPath $p.KeyDir
    $outcome.Relative = (Send-SmtpMessage @smtp -ServiceAccountKeyPath mailer.json -From reports@contoso.com -Subject 'Relative').Accepted -join ','
    Pop-Location

    $outcome.Rotation = @(foreach ($i in 0..2) {
        Set-Content -LiteralPath $p.RotatePath -Value $p.Rotation[$i] -NoNewline
        $failure = Get-Failure { Send-SmtpMessage @smtp -ServiceAccountKeyPath $p.RotatePath -From reports@contoso.com -Subject "Rotate $i" }
        @{ Id = "$($failure.Id)"; Message = "$($failure.Message)" }
    })

    $short = $smtp + @{}
    $short.TimeoutSec = 2
    $watch = [Diagnostics.Stopwatch]::StartNew()
    $outcome.Hanging = Get-Failure { Send-SmtpMessage @short -ServiceAccountKeyPath $p.Keys.Hanging -From reports@contoso.com -Subject 'x' }
    $outcome.HangingSeconds = $watch.Elapsed.TotalSeconds
    $outcome.Stopped = Measure-Stop -Script {
        param($Key, $Port)
        Send-SmtpMessage -SmtpServer localhost -Port $Port -TimeoutSec 60 -ServiceAccountKeyPath $Key -From stop@contoso.com -To a@example.com -Subject 'x'
    } -ArgumentList $p.Keys.Hanging, $p.SmtpPort -Until { Start-Sleep -Milliseconds 1500; $true }

    $outcome.Untrusted = Get-Failure { Send-SmtpMessage @smtp -SkipCertificateCheck -ServiceAccountKeyPath $p.Keys.Untrusted -From reports@contoso.com -Subject 'x' }

    # -ErrorAction SilentlyContinue: nothing in any stream; -ErrorVariable still has the error.
    $printed = & {
        $VerbosePreference = 'SilentlyContinue'
        Send-SmtpMessage @smtp -ServiceAccountKeyPath $p.Keys.NoDelegation -From reports@contoso.com -Subject 'x' -ErrorAction SilentlyContinue -ErrorVariable silentErrors
        $outcome.SilentErrorIds = @($silentErrors | ForEach-Object { $_.FullyQualifiedErrorId })
    } *>&1
    $outcome.SilentPrinted = @($printed | ForEach-Object { "$_" })
}
$outcome.Text = @($captured.Text; Get-Content -LiteralPath $p.Transcript -Raw; $Error | ForEach-Object { $_ | Out-String; $_.Exception.ToString() }) -join "`n"
'@

    # A key file the account may not read (chmod 000). Root reads any file, so as root the command
    # runs without the two capabilities that let it past file permissions.
    $unreadable = Join-Path $keyDir 'Unreadable.json'
    Set-Content -LiteralPath $unreadable -Value $keys.mailer -NoNewline
    chmod 000 $unreadable
    $pwsh = Join-Path $PSHOME 'pwsh'
    $command = "Import-Module '$modulePath'; Send-SmtpMessage -SmtpServer localhost -Port $($mock.SmtpPort) -ServiceAccountKeyPath '$unreadable' " +
        "-From reports@contoso.com -To a@example.com -Subject x -ErrorAction SilentlyContinue -ErrorVariable e; " +
        '@{ Id = $e[0].FullyQualifiedErrorId; Category = "$($e[0].CategoryInfo.Category)"; Message = $e[0].Exception.Message } | ConvertTo-Json -Compress'
    $printed = if ((id -u) -eq '0') {
        setpriv --bounding-set=-dac_override,-dac_read_search --inh-caps=-dac_override,-dac_read_search $pwsh -NoProfile -NonInteractive -Command $command
    }
    else { & $pwsh -NoProfile -NonInteractive -Command $command }
    $unreadableOutcome = ($printed | Select-Object -Last 1) | ConvertFrom-Json
}

AfterAll {
    $mock.Dispose()
    $google.Dispose()
    $hanging.Dispose()
    $untrusted.Dispose()
    $plain.Stop()
}

Describe 'Google Workspace through a service account key file' {
    It 'sends as the -From mailbox with a token got through a signed assertion for https://mail.google.com/' {
        $outcome.Sent | Should -Be @('a@example.com', 'a@example.com')
        $requests = @($google.Requests | Where-Object Issuer -EQ 'mailer@contoso-mail.iam.gserviceaccount.com' | Where-Object Error -EQ $null)
        $requests[0].Path | Should -Be '/token'
        $requests[0].Subject | Should -Be 'reports@contoso.com'
        $requests[0].Scope | Should -Be 'https://mail.google.com/'
        $requests[0].KeyId | Should -Be $mailer.private_key_id
        $sessions = @($mock.SmtpSessions | Where-Object AuthUser)
        $sessions.AuthUser | Sort-Object -Unique | Should -Be 'reports@contoso.com'
        $sessions.AuthMechanism | Sort-Object -Unique | Should -Be 'XOAUTH2'
    }

    It 'reuses the token within the process: two commands, one token request' {
        @($google.Requests | Where-Object Issuer -EQ 'mailer@contoso-mail.iam.gserviceaccount.com' | Where-Object Error -EQ $null).Count | Should -Be 1
    }

    It 'renews a token about to expire' {
        $outcome.Renewed | Should -Be @('a@example.com', 'a@example.com')
        @($google.Requests | Where-Object Issuer -EQ 'renew@contoso-mail.iam.gserviceaccount.com').Count | Should -Be 2
    }

    It 'reads the POP3 mailbox named by -UserName' {
        $outcome.Pop3 | Should -Be 3
        $mock.Pop3Sessions[0].AuthMechanism | Should -Be 'XOAUTH2'
        $mock.Pop3Sessions[0].User | Should -Be 'reports@contoso.com'
    }

    It 'asks for -UserName on POP3' {
        $outcome.Pop3NoUser.Id | Should -Be 'UserNameRequired,MailProtocols.Commands.GetPop3MessageCommand'
    }

    It 'names the domain-wide delegation to add when <Case> (unauthorized_client)' -ForEach @(
        @{ Case = 'NoDelegation' }
        @{ Case = 'SendOnly' }
    ) {
        $failure = $outcome.$Case
        $failure.Id | Should -Be 'OAuthTokenFailed,MailProtocols.Commands.SendSmtpMessageCommand'
        $failure.Category | Should -Be 'AuthenticationError'
        $failure.Code | Should -Be 'unauthorized_client'
        $failure.Message | Should -Match 'domain-wide delegation'
        $failure.Message | Should -Match 'Admin console'
        $failure.Message | Should -Match ([regex]::Escape('https://mail.google.com/'))
        $failure.NextLineRan | Should -BeTrue -Because 'a refusal is a non-terminating error'
        $failure.Errors | Should -Be 1
    }

    It 'names the client id whose delegation is missing' {
        $outcome.NoDelegation.Message | Should -Match $noDelegationClientId
    }

    It 'reports a mailbox the account may not act as (<Case>) as invalid_grant naming the mailbox' -ForEach @(
        @{ Case = 'WrongUser'; Command = 'SendSmtpMessageCommand' }
        @{ Case = 'Pop3WrongUser'; Command = 'GetPop3MessageCommand' }
    ) {
        $failure = $outcome.$Case
        $failure.Id | Should -Be "OAuthTokenFailed,MailProtocols.Commands.$Command"
        $failure.Code | Should -Be 'invalid_grant'
        $failure.Message | Should -Match "'ceo@contoso\.com'"
        $failure.Message | Should -Match 'Invalid email or User ID'
    }

    It 'refuses an assertion that the account''s key did not sign (the signature is checked)' {
        $outcome.RevokedKey.Id | Should -Be 'OAuthTokenFailed,MailProtocols.Commands.SendSmtpMessageCommand'
        $outcome.RevokedKey.Code | Should -Be 'invalid_grant'
        $outcome.RevokedKey.Message | Should -Match 'Invalid JWT Signature\. The key was deleted or disabled'
        @($google.Requests | Where-Object Issuer -EQ 'mailer@contoso-mail.iam.gserviceaccount.com' | Where-Object ErrorDescription -EQ 'Invalid JWT Signature.').Count | Should -Be 1
    }

    It 'reports a key file that <Case> as <Id>, before any token request' -ForEach @(
        @{ Case = 'is not JSON'; Name = 'NotJson'; Id = 'ServiceAccountKeyInvalid'; Category = 'InvalidArgument'; Text = 'not JSON' }
        @{ Case = 'is another kind of credential'; Name = 'NotServiceAccount'; Id = 'ServiceAccountKeyInvalid'; Category = 'InvalidArgument'; Text = "type is 'authorized_user'" }
        @{ Case = 'has no private key'; Name = 'NoPrivateKey'; Id = 'ServiceAccountKeyInvalid'; Category = 'InvalidArgument'; Text = 'no "private_key"' }
        @{ Case = 'has a broken private key'; Name = 'BadPem'; Id = 'ServiceAccountKeyInvalid'; Category = 'InvalidArgument'; Text = 'private_key is not' }
        @{ Case = 'does not exist'; Name = 'Missing'; Id = 'ServiceAccountKeyUnreadable'; Category = 'ObjectNotFound'; Text = 'no such file' }
    ) {
        $failure = $outcome.$Name
        $failure.Id | Should -Be "$Id,MailProtocols.Commands.SendSmtpMessageCommand"
        $failure.Category | Should -Be $Category
        $failure.Message | Should -Match ([regex]::Escape($Text))
        $failure.Target | Should -Match "$Name\.json$"
        $failure.NextLineRan | Should -BeTrue -Because 'a refusal is a non-terminating error'
        $failure.Errors | Should -Be 1
    }

    It 'refuses a token_uri that is not https and sends it nothing' {
        $outcome.HttpTokenUri.Id | Should -Be 'InvalidTokenUri,MailProtocols.Commands.SendSmtpMessageCommand'
        $outcome.HttpTokenUri.Message | Should -Match 'not an https URL'
        $plain.Pending() | Should -BeFalse -Because 'no assertion may go out over plain http'
    }

    It 'checks the token endpoint''s certificate even with -SkipCertificateCheck' {
        $outcome.Untrusted.Id | Should -Be 'OAuthTokenEndpointUnreachable,MailProtocols.Commands.SendSmtpMessageCommand'
        $untrusted.Requests | Should -BeNullOrEmpty
    }

    It 'reads a relative -ServiceAccountKeyPath from the current location (Set-Location)' {
        $outcome.Relative | Should -Be 'a@example.com'
    }

    It 'reads a key file rewritten at the same path anew: a rotated key is used, another private key under a cached key id gets no token' {
        $outcome.Rotation[0].Id | Should -BeNullOrEmpty
        $outcome.Rotation[1].Id | Should -BeNullOrEmpty
        $outcome.Rotation[2].Id | Should -Be 'OAuthTokenFailed,MailProtocols.Commands.SendSmtpMessageCommand'
        $outcome.Rotation[2].Message | Should -Match 'Invalid JWT Signature'
        $requests = @($google.Requests | Where-Object Issuer -EQ $rotateEmail)
        $requests.KeyId | Should -Be @($rotationKeyIds[0], $rotationKeyIds[1], $rotationKeyIds[1])
        $requests.Error | Should -Be @($null, $null, 'invalid_grant')
    }

    It 'gives up on a token endpoint that does not answer after -TimeoutSec' {
        $outcome.Hanging.Id | Should -Be 'OAuthTokenEndpointUnreachable,MailProtocols.Commands.SendSmtpMessageCommand'
        $outcome.Hanging.Message | Should -Match 'no answer within 2 s'
        $outcome.HangingSeconds | Should -BeLessThan 10 -Because 'the endpoint holds the request for 30 s'
        @($hanging.Requests | Where-Object Subject -EQ 'reports@contoso.com').Count | Should -Be 1
    }

    It 'stops at once on Ctrl+C while the token request waits' {
        @($hanging.Requests | Where-Object Subject -EQ 'stop@contoso.com').Count | Should -Be 1 -Because 'the request must have been waiting when Ctrl+C came'
        $outcome.Stopped.Completed | Should -BeTrue
        $outcome.Stopped.Seconds | Should -BeLessThan 2
    }

    It 'reports a key file this account may not read as PermissionDenied, naming the account and chown' {
        $unreadableOutcome.Id | Should -Be 'ServiceAccountKeyUnreadable,MailProtocols.Commands.SendSmtpMessageCommand'
        $unreadableOutcome.Category | Should -Be 'PermissionDenied'
        $unreadableOutcome.Message | Should -Match "may not read it\. Make that account the file's owner"
        $unreadableOutcome.Message | Should -Match 'chown'
        $unreadableOutcome.Message | Should -Not -Match '\.\.'
    }

    It 'sends nothing when no token came' {
        @($mock.Messages | ForEach-Object { Get-MimeHeader $_.DataText 'Subject' }) | Should -Be @('First', 'Second', 'Renew 1', 'Renew 2', 'Relative', 'Rotate 0', 'Rotate 1')
    }

    It 'prints nothing under -ErrorAction SilentlyContinue and keeps the ErrorId in -ErrorVariable' {
        $outcome.SilentPrinted | Should -BeNullOrEmpty
        $outcome.SilentErrorIds | Should -Be @('OAuthTokenFailed,MailProtocols.Commands.SendSmtpMessageCommand')
    }

    It 'shows no private key, assertion or token in any stream, error or transcript' {
        @($google.Requests | Where-Object Error -EQ $null).Count | Should -BeGreaterOrEqual 4
        $outcome.Text | Should -Match 'Access token for ''reports@contoso.com'''
        Assert-NoSecret -Text $outcome.Text -Secret $google.Secrets
    }
}
