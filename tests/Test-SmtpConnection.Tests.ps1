# Test-SmtpConnection against the mock: what each stage reports, each stage's failure (the stage,
# the hint, and nothing sent), the certificate report, the pipeline, -Quiet, -QuitAfter, and the
# error contract (an unreachable server is a result; a bad parameter is an error).

BeforeDiscovery {
    # Each stage's failure: how the mock misbehaves, the probe's parameters, and what it must say.
    # Setup gets the mock; Parameters are added to the common ones (the mock's STARTTLS port).
    $failures = @(
        @{ Case = 'nothing listens on the port'; Stage = 'Connect'; Hint = 'Nothing accepts connections on port'
            Parameters = @{ Port = 'dead' } }
        @{ Case = 'the greeting is a refusal'; Stage = 'Banner'; Hint = $null; Message = '554 5\.3\.2 no service'
            Setup = { param($m) $null = $m.ReplyTo('CONNECT', '554 5.3.2 no service') } }
        @{ Case = 'a plain-text probe of an implicit-TLS port'; Stage = 'Banner'; Hint = 'expects TLS from the first byte.*-TlsMode Implicit'
            Parameters = @{ Port = 'smtps'; TlsMode = 'StartTls'; TimeoutSec = 2 } }
        @{ Case = 'EHLO and HELO refused'; Stage = 'Ehlo'; Hint = $null; Message = 'refused the session: EHLO: 554 5\.7\.1 go away; HELO: 554'
            Setup = { param($m) $null = $m.ReplyTo('EHLO', '554 5.7.1 go away'); $null = $m.ReplyTo('HELO', '554 5.7.1 go away') } }
        @{ Case = 'implicit TLS on the STARTTLS port'; Stage = 'Tls'; Hint = 'answered in plain text.*-TlsMode StartTls'
            Parameters = @{ TlsMode = 'Implicit' } }
        @{ Case = 'no STARTTLS offered where -TlsMode StartTls requires it'; Stage = 'Tls'; Hint = 'does not offer STARTTLS on this port'
            Parameters = @{ TlsMode = 'StartTls' }; Setup = { param($m) $m.Smtp.StartTls = $false } }
        @{ Case = 'STARTTLS offered and refused'; Stage = 'Tls'; Hint = $null; Message = 'offered STARTTLS but refused it: 454'
            Setup = { param($m) $m.Smtp.StartTlsFails = $true } }
        @{ Case = 'a wrong password'; Stage = 'Auth'; Hint = $null; Message = "refused the sign-in of 'alice': 535"
            Parameters = @{ Credential = 'bad' } }
        @{ Case = '535 5.7.139: SMTP AUTH disabled for the tenant'; Stage = 'Auth'; Hint = 'SMTP AUTH is turned off'
            Parameters = @{ Credential = 'alice' }; Setup = { param($m) $m.Smtp.ExchangeAuthRefusal = 'SmtpAuthDisabledForTenant' } }
        @{ Case = '550 5.7.30: Basic authentication retired'; Stage = 'Auth'; Hint = 'no longer takes a password'
            Parameters = @{ Credential = 'alice' }; Setup = { param($m) $m.Smtp.ExchangeAuthRefusal = 'BasicAuthNotSupported' } }
        @{ Case = 'no AUTH offered at all'; Stage = 'Auth'; Hint = 'offers no AUTH at all'
            Parameters = @{ Credential = 'alice' }; Setup = { param($m) $m.Smtp.AuthMechanisms = [string[]]@() } }
        @{ Case = 'AUTH offered only after STARTTLS, probed with -TlsMode None'; Stage = 'Auth'; Hint = 'AUTH only after STARTTLS'
            Parameters = @{ Credential = 'alice'; TlsMode = 'None' }
            Setup = { param($m) $null = $m.ReplyTo('EHLO', '', "250-mock.test`r`n250-PIPELINING`r`n250-STARTTLS`r`n250 8BITMIME", 1) } }
        @{ Case = '530 5.7.0 Must issue a STARTTLS command first'; Stage = 'Recipient'; Hint = 'wants STARTTLS before this command'
            Parameters = @{ TlsMode = 'None'; To = 'bob@example.com' }
            Setup = { param($m) $null = $m.ReplyTo('MAIL', '530 5.7.0 Must issue a STARTTLS command first') } }
        @{ Case = 'greylisting: 450 at RCPT'; Stage = 'Recipient'; Hint = 'greylisting'
            Parameters = @{ To = 'bob@example.com' }
            Setup = { param($m) $null = $m.ReplyTo('RCPT', '450 4.7.1 <bob@example.com>: Recipient address rejected: Greylisted, try again later') } }
        @{ Case = 'a recipient refused for good'; Stage = 'Recipient'; Hint = $null; Message = 'refused 1 of 2 recipient'
            Parameters = @{ To = 'bob@example.com', 'nobody@example.com' }
            Setup = { param($m) $null = $m.ReplyTo('RCPT', 'nobody@', '550 5.1.1 <nobody@example.com> No such user') } }
        @{ Case = 'a server that goes silent after the greeting'; Stage = 'Ehlo'; Hint = $null; Message = 'No answer within 2 s at the Ehlo stage'
            Parameters = @{ TimeoutSec = 2 }; Setup = { param($m) $null = $m.NeverReply('EHLO') } }
        @{ Case = 'an EHLO reply trickled line by line past the timeout (one deadline for greeting, TLS and EHLO)'; Stage = 'Ehlo'; Hint = $null; Message = 'No answer within 1 s'
            Parameters = @{ TimeoutSec = 1 }; Setup = { param($m) $null = $m.Trickle('EHLO', 15, 1) } }
        @{ Case = 'the host name does not resolve'; Stage = 'Connect'; Hint = 'The host name does not resolve'; Message = "'nothing\.invalid' could not be resolved"
            Parameters = @{ SmtpServer = 'nothing.invalid' } }
        @{ Case = 'a greeting delayed past the timeout on a port that is not 465'; Stage = 'Banner'; Hint = 'either the port expects TLS from the first byte.*or the server delays its greeting.*raise -TimeoutSec'
            Parameters = @{ TimeoutSec = 1 }; Setup = { param($m) $null = $m.Delay('CONNECT', 3000, 1) } }
        @{ Case = 'a greeting that says too many connections are open'; Stage = 'Banner'; Hint = 'too many connections open at once'; Message = '421 4\.3\.2 The maximum number of concurrent connections'
            Setup = { param($m) $null = $m.ReplyThenClose('CONNECT', $null, '421 4.3.2 The maximum number of concurrent connections has exceeded a limit, closing transmission channel') } }
        @{ Case = 'the EHLO after STARTTLS refused'; Stage = 'Tls'; Hint = $null; Message = 'EHLO: 554 5\.7\.1 not now'
            Setup = { param($m) $null = $m.Delay('EHLO', 1, 1); $null = $m.ReplyTo('EHLO', '554 5.7.1 not now'); $null = $m.ReplyTo('HELO', '554 5.7.1 not now') } }
        @{ Case = 'a sign-in challenge the mechanism cannot take (an unexpected exception)'; Stage = 'Auth'; Hint = $null
            Parameters = @{ Credential = 'alice' }
            Setup = { param($m) $m.Smtp.AuthMechanisms = [string[]]@('LOGIN'); $null = $m.ReplyTo('AUTH', '334 %%%not-base64%%%') } }
        @{ Case = 'a 450 beside a 550 at RCPT is not greylisting'; Stage = 'Recipient'; Hint = $null; Message = 'refused 2 of 2 recipient'
            Parameters = @{ To = 'bob@example.com', 'nobody@example.com' }
            Setup = { param($m) $null = $m.ReplyTo('RCPT', 'bob@', '450 4.2.0 try later'); $null = $m.ReplyTo('RCPT', 'nobody@', '550 5.1.1 <nobody@example.com> No such user') } }
    )
    foreach ($f in $failures) { foreach ($key in 'Parameters', 'Setup', 'Message') { if (-not $f.ContainsKey($key)) { $f[$key] = $null } } }
}

Describe 'Test-SmtpConnection' {
    BeforeAll {
        . (Join-Path $PSScriptRoot 'common.ps1')
        . (Join-Path $PSScriptRoot 'TestTools/ConnectionProbe.ps1')
        $mock = New-MockServer
        $password = 'Secr3t!Pa55'
        $alice = [pscredential]::new('alice', (ConvertTo-SecureString $password -AsPlainText -Force))
        $badPassword = 'Wr0ng!Pa55'
        $bad = [pscredential]::new('alice', (ConvertTo-SecureString $badPassword -AsPlainText -Force))

        function Get-Probe {
            # The mock's STARTTLS port, its self-signed certificate skipped, a short timeout.
            @{ SmtpServer = $mock.Host; Port = $mock.SmtpPort; SkipCertificateCheck = $true; TimeoutSec = 5 }
        }

        function Assert-NothingSent {
            # The mock saw no message data and accepted no message on any session.
            param($Mock)
            $null = $Mock.WaitForIdle(5000)
            $Mock.Messages.Count | Should -Be 0
            foreach ($s in $Mock.SmtpSessions) {
                @($s.Commands | Where-Object { $_ -match '^(DATA|BDAT)\b' }).Count | Should -Be 0 -Because 'a probe never sends message data'
            }
        }
    }

    AfterAll {
        $mock.Dispose()
    }

    BeforeEach {
        $mock.Reset()
        $probe = Get-Probe
    }

    It 'reports every stage of a full probe: capabilities, TLS and certificate, sign-in, recipients; then RSET and QUIT' {
        $r = Test-SmtpConnection @probe -Credential $alice -From 'Ops <ops@example.com>' -To 'bob@example.com', 'carol@example.com'

        $r.GetType().FullName | Should -Be 'MailProtocols.Engine.Smtp.SmtpProbeResult'
        $r.Success | Should -BeTrue
        $r.FailedStage | Should -BeNullOrEmpty
        $r.Error | Should -BeNullOrEmpty
        @($r.Stages) | Should -Be @('Connect', 'Banner', 'Ehlo', 'Tls', 'Auth', 'Recipient')
        foreach ($t in 'ConnectTime', 'BannerTime', 'EhloTime', 'TlsTime', 'AuthTime', 'RecipientTime') { $r.$t | Should -BeOfType [timespan] }
        $r.Endpoint | Should -Be "$($mock.Host):$($mock.SmtpPort)"
        @($r.Addresses) | Should -Be @('127.0.0.1')
        $r.Banner | Should -Be '220 mock.test ESMTP MockMail ready'

        $r.Capabilities.SizeLimit | Should -Be 52428800
        $r.Capabilities.Pipelining | Should -BeTrue
        $r.Capabilities.EightBitMime | Should -BeTrue
        $r.Capabilities.SmtpUtf8 | Should -BeTrue
        $r.Capabilities.Dsn | Should -BeTrue
        $r.Capabilities.Chunking | Should -BeFalse
        $r.Capabilities.StartTls | Should -BeFalse -Because 'after STARTTLS the server no longer offers it'
        $r.CapabilitiesBeforeTls.StartTls | Should -BeTrue
        @($r.Capabilities.AuthMechanisms) | Should -Be @('PLAIN', 'LOGIN', 'XOAUTH2')

        $r.Tls.Method | Should -Be 'StartTls'
        $r.Tls.Protocol | Should -Match '^Tls1[23]$'
        $r.Tls.CipherSuite | Should -Not -BeNullOrEmpty
        $c = $r.Tls.Certificate
        $c.Thumbprint | Should -Be $mock.Certificate.Thumbprint
        $c.Subject | Should -Be 'CN=localhost'
        @($c.SubjectAlternativeNames) | Should -Contain 'localhost'
        $c.NotAfter | Should -Be $mock.Certificate.NotAfter
        $c.DaysToExpiry | Should -Be ([Math]::Floor(($mock.Certificate.NotAfter - [DateTime]::Now).TotalDays))
        $c.Valid | Should -BeFalse -Because 'the mock''s certificate is self-signed'
        @($c.Problems) | Should -Contain 'UntrustedRoot'

        $r.AuthMechanism | Should -Be 'PLAIN'
        $r.AuthReply | Should -Match '^235 '
        $r.Authenticated | Should -BeTrue
        $r.Sender.Address | Should -Be 'ops@example.com'
        $r.Sender.Accepted | Should -BeTrue
        @($r.Recipients.Address) | Should -Be @('bob@example.com', 'carol@example.com')
        @($r.Recipients.Accepted) | Should -Be @($true, $true)

        Assert-NothingSent $mock
        $s = $mock.SmtpSessions[0]
        $s.AuthUser | Should -Be 'alice'
        $s.Commands[-2] | Should -Be 'RSET'
        $s.QuitReceived | Should -BeTrue
    }

    It 'sees AUTH offered only after STARTTLS, and signs in after it' {
        $null = $mock.ReplyTo('EHLO', '', "250-mock.test`r`n250-PIPELINING`r`n250-STARTTLS`r`n250 8BITMIME", 1)
        $r = Test-SmtpConnection @probe -Credential $alice

        $r.Success | Should -BeTrue
        @($r.CapabilitiesBeforeTls.AuthMechanisms).Count | Should -Be 0
        @($r.Capabilities.AuthMechanisms) | Should -Contain 'PLAIN'
        $r.Authenticated | Should -BeTrue
    }

    It 'says when the server offers no STARTTLS, without failing a probe that did not require it' {
        $mock.Smtp.StartTls = $false
        $r = Test-SmtpConnection @probe

        $r.Success | Should -BeTrue
        $r.Tls | Should -BeNullOrEmpty
        @($r.Stages) | Should -Not -Contain 'Tls'
        $r.Hint | Should -Match 'does not offer STARTTLS: mail and credentials would go in plain text'
    }

    It 'reports implicit TLS on the implicit-TLS port' {
        $r = Test-SmtpConnection @probe -Port $mock.SmtpsPort -TlsMode Implicit

        $r.Success | Should -BeTrue
        @($r.Stages) | Should -Be @('Connect', 'Tls', 'Banner', 'Ehlo')
        $r.Tls.Method | Should -Be 'Implicit'
        $r.CapabilitiesBeforeTls | Should -BeNullOrEmpty
        $mock.SmtpSessions[0].ImplicitTls | Should -BeTrue
    }

    Context 'a stage fails: <Case>' -ForEach $failures {
        It 'reports the stage and the hint as a result, not an error, and sends nothing' {
            if ($Setup) { & $Setup $mock }
            $stand = @{ dead = { Get-FreeTcpPort }; smtps = { $mock.SmtpsPort }; alice = { $alice }; bad = { $bad } }
            foreach ($key in @(if ($Parameters) { $Parameters.Keys })) {
                $value = $Parameters[$key]
                $probe[$key] = if ($value -is [string] -and $stand.ContainsKey($value)) { & $stand[$value] } else { $value }
            }

            $captured = Invoke-Captured { Test-SmtpConnection @probe -ErrorAction SilentlyContinue }
            $r = $captured.Records | Where-Object { $_.GetType().FullName -eq 'MailProtocols.Engine.Smtp.SmtpProbeResult' }
            $errors = @($captured.Records | Where-Object { $_ -is [System.Management.Automation.ErrorRecord] })

            $errors.Count | Should -Be 0 -Because "a failed stage is a result ($errors)"
            @($captured.Records | Where-Object { $_ -is [System.Management.Automation.VerboseRecord] }).Count | Should -BeGreaterThan 0 -Because 'the verbose stream is scanned for secrets too'
            $r.Success | Should -BeFalse
            $r.FailedStage | Should -Be $Stage
            $r.Error | Should -Not -BeNullOrEmpty
            if ($Message) { $r.Error | Should -Match $Message }
            if ($Hint) { $r.Hint | Should -Match $Hint }
            else { $r.Hint | Should -Not -Match 'STARTTLS|AUTH|greylist|first byte' -Because 'no hint of another failure' }
            @($r.Stages)[-1] | Should -Be $Stage
            Assert-NothingSent $mock
            Assert-NoSecret -Text $captured.Text -Secret $password, $badPassword
            if ($Stage -eq 'Recipient') {
                # The transaction the probe opened is closed again, and so is the session.
                $s = $mock.SmtpSessions[0]
                $s.Commands | Should -Contain 'RSET'
                [array]::LastIndexOf($s.Commands, 'RSET') | Should -BeGreaterThan ([array]::FindLastIndex($s.Commands, [Predicate[string]] { $args[0] -like 'MAIL FROM:*' }))
                $s.QuitReceived | Should -BeTrue
            }
        }
    }

    It 'stops at a 421 to RCPT: keeps the verdicts read, sends nothing more (no RSET), and gives no greylisting hint' {
        $null = $mock.ReplyThenClose('RCPT', 'carol@', '421 4.3.2 Service shutting down')
        $r = Test-SmtpConnection @probe -To 'bob@example.com', 'carol@example.com', 'dave@example.com'
        $null = $mock.WaitForIdle(5000)

        $r.FailedStage | Should -Be 'Recipient'
        @($r.Recipients.Address) | Should -Be @('bob@example.com', 'carol@example.com')
        @($r.Recipients.StatusCode) | Should -Be @(250, 421)
        $r.Error | Should -Match 'refused 1 of 3 recipient.*421 4\.3\.2 Service shutting down'
        $r.Hint | Should -Not -Match 'greylist'
        $commands = @($mock.SmtpSessions[0].Commands)
        $commands | Should -Not -Contain 'RCPT TO:<dave@example.com>'
        $commands[-1] | Should -Be 'RCPT TO:<carol@example.com>' -Because 'after 421 the server closes: no RSET, no QUIT'
        Assert-NothingSent $mock
    }

    It 'keeps the server''s reply when MAIL gets 421 and the server closes' {
        $null = $mock.ReplyThenClose('MAIL', $null, '421 4.3.2 Service shutting down')
        $r = Test-SmtpConnection @probe -From 'ops@example.com' -To 'bob@example.com'
        $null = $mock.WaitForIdle(5000)

        $r.FailedStage | Should -Be 'Recipient'
        $r.Error | Should -Match 'refused the sender <ops@example\.com>: 421 4\.3\.2 Service shutting down'
        $r.Sender.StatusCode | Should -Be 421
        $mock.SmtpSessions[0].Commands[-1] | Should -BeLike 'MAIL FROM:*'
    }

    It 'says that the handshake stalled (not that nothing answered) when a server takes the connection and never completes TLS' {
        # A listener that never accepts: the kernel completes the TCP connection, nobody reads the ClientHello.
        $silent = [System.Net.Sockets.TcpListener]::new([System.Net.IPAddress]::Loopback, 0)
        $silent.Start()
        try {
            $r = Test-SmtpConnection -SmtpServer 127.0.0.1 -Port $silent.LocalEndpoint.Port -TlsMode Implicit -TimeoutSec 1
        }
        finally { $silent.Stop() }

        $r.FailedStage | Should -Be 'Tls'
        $r.Hint | Should -Match 'did not complete the handshake within 1 s'
        $r.Hint | Should -Not -Match 'Nothing answered on port'
    }

    It 'records the EHLO before STARTTLS only as such when the EHLO after it fails' {
        $null = $mock.Delay('EHLO', 1, 1); $null = $mock.ReplyTo('EHLO', '554 5.7.1 not now'); $null = $mock.ReplyTo('HELO', '554 5.7.1 not now')
        $r = Test-SmtpConnection @probe

        $r.FailedStage | Should -Be 'Tls'
        $r.CapabilitiesBeforeTls.StartTls | Should -BeTrue
        $r.Capabilities | Should -BeNullOrEmpty -Because 'no EHLO after STARTTLS was answered'
    }

    It 'says in a verbose line that -From and -To are not tried before the Recipient stage' {
        $captured = Invoke-Captured { Test-SmtpConnection @probe -QuitAfter Ehlo -From 'ops@example.com' -To 'bob@example.com' }
        $verbose = @($captured.Records | Where-Object { $_ -is [System.Management.Automation.VerboseRecord] } | ForEach-Object Message)
        $verbose -match '-From and -To are not tried' | Should -Not -BeNullOrEmpty
        $null = $mock.WaitForIdle(5000)
        $mock.SmtpSessions[0].Commands | Should -Not -Contain 'RCPT TO:<bob@example.com>'
    }

    It 'signs in with -AccessToken (XOAUTH2) and shows the token nowhere' {
        $tokenText = $mock.OAuthTokens['alice']
        $transcript = Join-Path $TestDrive 'xoauth2.log'
        $captured = Invoke-Captured { Test-SmtpConnection @probe -UserName alice -AccessToken (ConvertTo-SecureString $tokenText -AsPlainText -Force) -QuitAfter Auth -TranscriptPath $transcript }
        $r = $captured.Records | Where-Object { $_.GetType().FullName -eq 'MailProtocols.Engine.Smtp.SmtpProbeResult' }

        $r.Success | Should -BeTrue
        $r.AuthMechanism | Should -Be 'XOAUTH2'
        $r.Authenticated | Should -BeTrue
        $mock.SmtpSessions[0].AuthUser | Should -Be 'alice'
        Assert-NoSecret -Text ($captured.Text + (Get-Content -LiteralPath $transcript -Raw)) -Secret $tokenText, "user=alice`u{1}auth=Bearer $tokenText`u{1}`u{1}"
    }

    Context 'the list view at an 80-column prompt' {
        It 'keeps every line within 80 columns and every word whole, one hint per line' {
            $authority = [MockMail.TestCertificates]::CreateAuthority('Probe List CA')
            $now = [DateTimeOffset]::Now
            $other = [MockMail.MockServer]::new()
            $other.UseCertificate([MockMail.TestCertificates]::CreateServerCertificate($authority, 'other.example.com', $now.AddDays(-1), $now.AddDays(200)))
            $other.Start()
            try { $r = Test-SmtpConnection -SmtpServer localhost -Port $other.SmtpPort -Credential $alice -To 'bob@example.com' -TimeoutSec 5 }
            finally { $other.Dispose() }

            @($r.Hint -split "`n").Count | Should -BeGreaterOrEqual 3 -Because 'each hint starts on its own line'
            $text = $r | Out-String -Width 80
            foreach ($line in $text -split "`r?`n") { $line.Length | Should -BeLessOrEqual 80 -Because "'$line'" }
            $split = '[\s,;:()''"]+'
            $words = @($text -split $split)
            foreach ($word in @($r.Hint -split $split) + @($r.Tls.Certificate.Problems) + @($r.Error -split $split) -ne '') {
                $words | Should -Contain $word -Because 'a value wraps between words'
            }
            $text | Should -Match '(?m)^CertCheck\s+: failed: NameMismatch'
            $text | Should -Match '(?m)^\s+names: other\.example\.com\s*$'
            $text | Should -Match '(?m)^\s+issuer: CN=Probe List CA\s*$'
            $r.Error | Should -Not -Match ([regex]::Escape("localhost:")) -Because 'the endpoint is the first row already'
        }

        It 'shows TLS as not tried when STARTTLS was offered and the probe ended before it' {
            $r = Test-SmtpConnection @probe -QuitAfter Ehlo
            ($r | Out-String -Width 80) | Should -Match '(?m)^Tls\s+: not tried \(STARTTLS offered\)\s*$'
        }
    }

    It 'writes RevocationUnknown in the help as a problem of -CheckCertificateRevocation only' {
        $help = (Get-Help Test-SmtpConnection).description.Text -join ' '
        $help | Should -Match 'RevocationUnknown \(only with -CheckCertificateRevocation'
    }

    Context 'the certificate' {
        BeforeAll {
            $authority = [MockMail.TestCertificates]::CreateAuthority('Probe Test CA')
            $now = [DateTimeOffset]::Now
            $certificates = @{
                Other    = [MockMail.TestCertificates]::CreateServerCertificate($authority, 'other.example.com', $now.AddDays(-1), $now.AddDays(200))
                Expired  = [MockMail.TestCertificates]::CreateServerCertificate($authority, 'localhost', $now.AddDays(-60), $now.AddDays(-2))
                Expiring = [MockMail.TestCertificates]::CreateServerCertificate($authority, 'localhost', $now.AddDays(-60), $now.AddDays(5).AddHours(1))
                Early    = [MockMail.TestCertificates]::CreateServerCertificate($authority, 'localhost', $now.AddDays(2), $now.AddDays(200))
            }
            $tlsMocks = @{}
            foreach ($name in $certificates.Keys) {
                # A mock takes its certificate before it starts.
                $tlsMocks[$name] = [MockMail.MockServer]::new()
                $tlsMocks[$name].UseCertificate($certificates[$name])
                $tlsMocks[$name].Start()
            }
        }

        AfterAll {
            foreach ($m in $tlsMocks.Values) { $m.Dispose() }
        }

        It 'reports a certificate for another name, and refuses to send credentials to it, without failing the TLS stage' {
            $tlsMock = $tlsMocks.Other
            $r = Test-SmtpConnection -SmtpServer localhost -Port $tlsMock.SmtpPort -Credential $alice -TimeoutSec 5

            $r.Tls.Certificate.Subject | Should -Be 'CN=other.example.com'
            @($r.Tls.Certificate.Problems) | Should -Contain 'NameMismatch'
            $r.Tls.Certificate.Issuer | Should -Be 'CN=Probe Test CA'
            @($r.Tls.Certificate.Problems | Where-Object { $_ -in 'UntrustedRoot', 'PartialChain' }).Count | Should -Be 1 -Because "the CA is not trusted here ($($r.Tls.Certificate.Problems))"
            $r.Hint | Should -Match 'issuer is not trusted on this machine'
            $r.Hint | Should -Match "The certificate is for other\.example\.com, not for 'localhost'"
            $r.FailedStage | Should -Be 'Auth'
            $r.Error | Should -Match 'so the credentials were not sent'
            $tlsMock.SmtpSessions[0].AuthAttempts | Should -Be 0
        }

        It 'reports an expired certificate: Expired, negative days, a hint; the probe itself succeeds' {
            $tlsMock = $tlsMocks.Expired
            $r = Test-SmtpConnection -SmtpServer localhost -Port $tlsMock.SmtpPort -TimeoutSec 5

            $r.Success | Should -BeTrue
            @($r.Tls.Certificate.Problems) | Should -Contain 'Expired'
            $r.Tls.Certificate.DaysToExpiry | Should -BeLessThan 0
            $r.Hint | Should -Match 'The certificate expired on \d{4}-\d\d-\d\d'
        }

        It 'reports a certificate that is not valid yet: NotYetValid and its own hint' {
            $tlsMock = $tlsMocks.Early
            $r = Test-SmtpConnection -SmtpServer localhost -Port $tlsMock.SmtpPort -TimeoutSec 5

            @($r.Tls.Certificate.Problems) | Should -Contain 'NotYetValid'
            @($r.Tls.Certificate.Problems) | Should -Not -Contain 'Expired'
            $r.Hint | Should -Match 'The certificate is not valid before \d{4}-\d\d-\d\d'
        }

        It 'refuses to send credentials over implicit TLS with a certificate that failed the check' {
            $tlsMock = $tlsMocks.Expired
            $r = Test-SmtpConnection -SmtpServer localhost -Port $tlsMock.SmtpsPort -TlsMode Implicit -Credential $alice -TimeoutSec 5
            $null = $tlsMock.WaitForIdle(5000)

            $r.Tls.Method | Should -Be 'Implicit'
            @($r.Tls.Certificate.Problems) | Should -Contain 'Expired'
            $r.FailedStage | Should -Be 'Auth'
            $r.Error | Should -Match 'so the credentials were not sent'
            $r.Hint | Should -Match 'so the credentials were not sent'
            $s = $tlsMock.SmtpSessions[-1]
            $s.AuthAttempts | Should -Be 0
            $s.QuitReceived | Should -BeTrue
        }

        It 'warns of a certificate about to expire' {
            $tlsMock = $tlsMocks.Expiring
            $r = Test-SmtpConnection -SmtpServer localhost -Port $tlsMock.SmtpPort -TimeoutSec 5

            $r.Tls.Certificate.DaysToExpiry | Should -Be 5
            $r.Hint | Should -Match 'The certificate expires in 5 days'
        }
    }

    Context 'the TLS version' {
        BeforeAll {
            $versionMocks = @{}
            foreach ($version in 'Tls12', 'Tls13') {
                $versionMocks[$version] = [MockMail.MockServer]::new()
                $versionMocks[$version].TlsProtocols = $version
                $versionMocks[$version].Start()
            }

            $opensslConf = New-OldTlsOpenSslConfig
            $oldTls = Start-Child -Environment @{ OPENSSL_CONF = $opensslConf } -Command @"
Add-Type -Path '$mockPath'
`$m = [MockMail.MockServer]::new()
`$m.TlsProtocols = 'Tls, Tls11'
`$m.Start()
'PORTS ' + `$m.SmtpPort + ' ' + `$m.SmtpsPort
`$null = [Console]::In.ReadLine()
'SESSIONS ' + (@(`$m.SmtpSessions | ForEach-Object { "`$(`$_.TlsProtocol)/`$(`$_.AuthAttempts)/`$(@(`$_.Commands -match '^(MAIL|RCPT|DATA|BDAT)').Count)" }) -join ' ')
`$m.Dispose()
"@
            $oldPorts = (Read-ChildLine $oldTls 'PORTS ') -split ' '
        }

        AfterAll {
            foreach ($m in $versionMocks.Values) { $m.Dispose() }
            if ($oldTls -and -not $oldTls.HasExited) { $oldTls.Kill($true) }
        }

        It 'reports <Version> from a server that offers only it, on STARTTLS and implicit TLS' -ForEach @(
            @{ Version = 'Tls12' }
            @{ Version = 'Tls13' }
        ) {
            $m = $versionMocks[$Version]
            $starttls = Test-SmtpConnection -SmtpServer $m.Host -Port $m.SmtpPort -SkipCertificateCheck -TimeoutSec 5
            $implicit = Test-SmtpConnection -SmtpServer $m.Host -Port $m.SmtpsPort -TlsMode Implicit -SkipCertificateCheck -TimeoutSec 5
            $null = $m.WaitForIdle(5000)

            foreach ($r in $starttls, $implicit) {
                $r.Success | Should -BeTrue
                $r.Tls.Protocol | Should -Be $Version
                $r.Hint | Should -Not -Match 'negotiated'
            }
            @($m.SmtpSessions.TlsProtocol | Select-Object -Last 2) | Should -Be @($Version, $Version) -Because 'the server negotiated what the result says'
        }

        It 'says that the server may offer only TLS 1.0/1.1 when this machine refuses its handshake' {
            $starttls = Test-SmtpConnection -SmtpServer 127.0.0.1 -Port $oldPorts[0] -SkipCertificateCheck -Credential $alice -To 'bob@example.com' -TimeoutSec 10
            $implicit = Test-SmtpConnection -SmtpServer 127.0.0.1 -Port $oldPorts[1] -TlsMode Implicit -SkipCertificateCheck -TimeoutSec 10

            foreach ($r in $starttls, $implicit) {
                $r.Success | Should -BeFalse
                $r.FailedStage | Should -Be 'Tls'
                $r.Error | Should -Match 'TLS handshake with the server failed'
                $r.Hint | Should -Match 'may offer only TLS 1\.0/1\.1'
                $r.Tls | Should -BeNullOrEmpty
            }
        }

        It 'names TLS 1.1 when a client that allows it negotiated it' {
            Assert-Tls11Named -Command Test-SmtpConnection -ServerParameter SmtpServer -Port $oldPorts[0] -OpensslConf $opensslConf -ModulePath $modulePath
        }

        It 'sent nothing to the TLS 1.0/1.1 server: no sign-in, no MAIL, RCPT or DATA' {
            $oldTls.StandardInput.WriteLine('')
            $sessions = (Read-ChildLine $oldTls 'SESSIONS ') -split ' '
            $null = $oldTls.WaitForExit(15000)

            $sessions.Count | Should -Be 3
            foreach ($s in $sessions) { $s | Should -Match '/0/0$' }
            $sessions | Should -Contain 'Tls11/0/0'
        }
    }

    Context 'an app-only sign-in (Entra app)' {
        It 'fetches the token before connecting: signs in with XOAUTH2, and a refused token costs no mail connection' {
            $authority = [MockMail.TestCertificates]::CreateAuthority('Probe OAuth CA')
            $now = [DateTimeOffset]::UtcNow
            $serverCertificate = [MockMail.TestCertificates]::CreateServerCertificate($authority, 'localhost', $now.AddDays(-1), $now.AddDays(30))
            $caBundle = Join-Path $TestDrive 'probe-ca.pem'
            Set-Content -Path $caBundle -Value ([MockMail.TestCertificates]::ToPem($authority)) -NoNewline
            $entra = [MockMail.MockEntra]::new($serverCertificate)
            $entra.Start()
            $secret = 'Pr0be~Secret.Value_7'
            $entra.AddApp('contoso', 'app-probe', $secret, [string[]]@('reports@contoso.com'))
            $appMock = [MockMail.MockServer]::new()
            $appMock.UseCertificate($serverCertificate)
            $appMock.Entra = $entra
            $appMock.Start()
            try {
                $outcome = Invoke-TrustingChild -CaBundle $caBundle -Data @{ Secret = $secret; Authority = $entra.Authority; Port = $appMock.SmtpPort; Transcript = (Join-Path $TestDrive 'app.log') } -Body @'
$app = @{ TenantId = 'contoso'; ClientId = 'app-probe'; Authority = $p.Authority; SmtpServer = 'localhost'; Port = $p.Port; TimeoutSec = 30 }
$captured = Invoke-Captured {
    $good = Test-SmtpConnection @app -ClientSecret (ConvertTo-SecureString $p.Secret -AsPlainText -Force) -UserName reports@contoso.com -QuitAfter Auth -TranscriptPath $p.Transcript
    $outcome.Good = @{ Success = $good.Success; Mechanism = $good.AuthMechanism; Reply = $good.AuthReply; Stages = @($good.Stages | ForEach-Object { "$_" }) }
    $bad = Test-SmtpConnection @app -ClientSecret (ConvertTo-SecureString 'Wr0ng~Secret' -AsPlainText -Force) -UserName reports@contoso.com
    $outcome.Bad = @{ Success = $bad.Success; Stage = "$($bad.FailedStage)"; Error = $bad.Error; Hint = $bad.Hint; Stages = @($bad.Stages | ForEach-Object { "$_" }) }
}
$outcome.Text = $captured.Text + (Get-Content -LiteralPath $p.Transcript -Raw)
'@
                $null = $appMock.WaitForIdle(5000)

                $outcome.Good.Success | Should -BeTrue -Because ($outcome | ConvertTo-Json -Depth 4)
                $outcome.Good.Mechanism | Should -Be 'XOAUTH2'
                $outcome.Good.Reply | Should -Match '^235 '
                $outcome.Good.Stages | Should -Be @('Connect', 'Banner', 'Ehlo', 'Tls', 'Auth')
                $appMock.SmtpSessions[0].AuthUser | Should -Be 'reports@contoso.com'
                $appMock.SmtpSessions[0].QuitReceived | Should -BeTrue

                $outcome.Bad.Success | Should -BeFalse
                $outcome.Bad.Stage | Should -Be 'Auth'
                $outcome.Bad.Stages | Should -Be @('Auth')
                $outcome.Bad.Error | Should -Match 'AADSTS7000215|secret'
                $outcome.Bad.Hint | Should -Match 'No token came from the sign-in authority, so the mail server was not connected to'
                $appMock.SmtpConnectionCount | Should -Be 1 -Because 'the refused token cost no mail connection'
                Assert-NoSecret -Text $outcome.Text -Secret (@($secret, 'Wr0ng~Secret') + $entra.Secrets)
            }
            finally {
                $appMock.Dispose()
                $entra.Dispose()
            }
        }
    }

    It '-Quiet returns only $true or $false' {
        $ok = Test-SmtpConnection @probe -Quiet
        $probe.Port = Get-FreeTcpPort
        $dead = Test-SmtpConnection @probe -Quiet

        $ok | Should -BeOfType [bool]
        $ok | Should -BeTrue
        $dead | Should -BeOfType [bool]
        $dead | Should -BeFalse
    }

    It 'probes a list of endpoints from a CSV in one pipeline, binding SmtpServer, Port and TlsMode by name, in order' {
        $csv = Join-Path $TestDrive 'servers.csv'
        $dead = Get-FreeTcpPort
        @(
            [pscustomobject]@{ SmtpServer = '127.0.0.1'; Port = $mock.SmtpPort; TlsMode = 'Auto' }
            [pscustomobject]@{ SmtpServer = 'localhost'; Port = $mock.SmtpsPort; TlsMode = 'Implicit' }
            [pscustomobject]@{ SmtpServer = '127.0.0.1'; Port = $dead; TlsMode = 'Auto' }
        ) | Export-Csv -LiteralPath $csv
        $results = @(Import-Csv -LiteralPath $csv | Test-SmtpConnection -SkipCertificateCheck -TimeoutSec 5)

        $results.Count | Should -Be 3
        @($results.Port) | Should -Be @($mock.SmtpPort, $mock.SmtpsPort, $dead)
        @($results.Success) | Should -Be @($true, $true, $false)
        @($results.Tls.Method) | Should -Be @('StartTls', 'Implicit')
        $results[2].FailedStage | Should -Be 'Connect'
        Assert-NothingSent $mock
    }

    It 'probes several servers given to -SmtpServer, and strings piped in' {
        $given = @(Test-SmtpConnection -SmtpServer '127.0.0.1', 'localhost' -Port $mock.SmtpPort -SkipCertificateCheck -TimeoutSec 5)
        $piped = @('localhost', '127.0.0.1' | Test-SmtpConnection -Port $mock.SmtpPort -SkipCertificateCheck -TimeoutSec 5)

        @($given.SmtpServer) | Should -Be @('127.0.0.1', 'localhost')
        @($piped.SmtpServer) | Should -Be @('localhost', '127.0.0.1')
        @($given.Success + $piped.Success) | Should -Be @($true, $true, $true, $true)
    }

    It '-QuitAfter <QuitAfter> runs the stages up to it and then QUITs' -ForEach @(
        @{ QuitAfter = 'Connect'; Stages = @('Connect'); Commands = @() }
        @{ QuitAfter = 'Banner'; Stages = @('Connect', 'Banner'); Commands = @('QUIT') }
        @{ QuitAfter = 'Ehlo'; Stages = @('Connect', 'Banner', 'Ehlo'); Commands = @('EHLO [127.0.0.1]', 'QUIT') }
        @{ QuitAfter = 'Tls'; Stages = @('Connect', 'Banner', 'Ehlo', 'Tls'); Commands = @('EHLO [127.0.0.1]', 'STARTTLS', 'EHLO [127.0.0.1]', 'QUIT') }
        @{ QuitAfter = 'Auth'; Stages = @('Connect', 'Banner', 'Ehlo', 'Tls', 'Auth'); Commands = @('EHLO [127.0.0.1]', 'STARTTLS', 'EHLO [127.0.0.1]', 'AUTH PLAIN *', 'QUIT') }
        @{ QuitAfter = 'Recipient'; Stages = @('Connect', 'Banner', 'Ehlo', 'Tls', 'Auth', 'Recipient')
            Commands = @('EHLO [127.0.0.1]', 'STARTTLS', 'EHLO [127.0.0.1]', 'AUTH PLAIN *', 'MAIL FROM:<>', 'RCPT TO:<bob@example.com>', 'RSET', 'QUIT') }
    ) {
        $r = Test-SmtpConnection @probe -QuitAfter $QuitAfter -Credential $alice -To 'bob@example.com'
        $null = $mock.WaitForIdle(5000)

        $r.Success | Should -BeTrue
        @($r.Stages) | Should -Be $Stages
        $seen = @($mock.SmtpSessions[0].Commands)
        $seen.Count | Should -Be $Commands.Count -Because ($seen -join ' | ')
        for ($i = 0; $i -lt $Commands.Count; $i++) {
            # 'AUTH PLAIN *': the command, whatever its secret.
            if ($Commands[$i].EndsWith('*')) { $seen[$i] | Should -Match ('^' + [regex]::Escape($Commands[$i].TrimEnd('*'))) }
            else { $seen[$i] | Should -Be $Commands[$i] }
        }
    }

    It 'writes a transcript with the credentials redacted' {
        $path = Join-Path $TestDrive 'probe.log'
        $r = Test-SmtpConnection @probe -Credential $alice -To 'bob@example.com' -TranscriptPath $path

        $r.Success | Should -BeTrue
        $text = Get-Content -LiteralPath $path -Raw
        $text | Should -Match 'AUTH PLAIN \*+'
        $text | Should -Match 'RCPT TO:<bob@example.com>'
        Assert-NoSecret -Text $text -Secret $password, "`0alice`0$password"
    }

    It 'stops at once on Ctrl+C while the server is silent' {
        $null = $mock.NeverReply('EHLO')
        $stop = Measure-Stop -Script {
            param($Port)
            Test-SmtpConnection -SmtpServer 127.0.0.1 -Port $Port -TimeoutSec 60
        } -ArgumentList $mock.SmtpPort -Until { $mock.SmtpSessions.Commands -like 'EHLO*' }

        $stop.Reached | Should -BeTrue
        $stop.Completed | Should -BeTrue
        $stop.Seconds | Should -BeLessThan 1
        $stop.State | Should -Be 'Stopped'
    }

    Context 'errors' {
        It 'writes no error for an unreachable server, even with -ErrorAction Stop' {
            { $script:r = Test-SmtpConnection -SmtpServer 127.0.0.1 -Port (Get-FreeTcpPort) -TimeoutSec 5 -ErrorAction Stop } | Should -Not -Throw
            $r.Success | Should -BeFalse
            $r.FailedStage | Should -Be 'Connect'
        }

        It 'fails on a bad parameter before connecting, whatever -ErrorAction says: <Case>' -ForEach @(
            @{ Case = '-QuitAfter Recipient without -To'; ErrorId = 'QuitAfterNeedsInput,MailProtocols.Commands.TestSmtpConnectionCommand'
                Parameters = @{ QuitAfter = 'Recipient' } }
            @{ Case = '-QuitAfter Auth without credentials'; ErrorId = 'QuitAfterNeedsInput,MailProtocols.Commands.TestSmtpConnectionCommand'
                Parameters = @{ QuitAfter = 'Auth' } }
            @{ Case = '-QuitAfter Auth with the empty credential'; ErrorId = 'QuitAfterNeedsInput,MailProtocols.Commands.TestSmtpConnectionCommand'
                Parameters = @{ QuitAfter = 'Auth'; Credential = [pscredential]::Empty } }
            @{ Case = '-QuitAfter Tls with -TlsMode None'; ErrorId = 'QuitAfterNeedsInput,MailProtocols.Commands.TestSmtpConnectionCommand'
                Parameters = @{ QuitAfter = 'Tls'; TlsMode = 'None' } }
            @{ Case = '-UseSsl with -TlsMode None'; ErrorId = 'ConflictingTlsParameters,MailProtocols.Commands.TestSmtpConnectionCommand'
                Parameters = @{ UseSsl = $true; TlsMode = 'None' } }
            @{ Case = 'a port out of range'; ErrorId = 'ParameterArgumentValidationError,MailProtocols.Commands.TestSmtpConnectionCommand'
                Parameters = @{ Port = 70000 } }
            @{ Case = 'an unknown -QuitAfter stage'; ErrorId = 'CannotConvertArgumentNoMessage,MailProtocols.Commands.TestSmtpConnectionCommand'
                Parameters = @{ QuitAfter = 'Data' } }
            @{ Case = 'a line break in -To (it would start a command of its own, DATA included)'; ErrorId = 'AddressHasControlCharacter,MailProtocols.Commands.TestSmtpConnectionCommand'
                Parameters = @{ To = "bob@example.com`r`nDATA" } }
            @{ Case = 'a line break in -From'; ErrorId = 'AddressHasControlCharacter,MailProtocols.Commands.TestSmtpConnectionCommand'
                Parameters = @{ From = "alice@example.com`nRSET"; To = 'bob@example.com' } }
        ) {
            $probe.Remove('Port')
            foreach ($key in $Parameters.Keys) { $probe[$key] = $Parameters[$key] }
            $probe.Port = if ($Parameters.ContainsKey('Port')) { $Parameters.Port } else { $mock.SmtpPort }

            { Test-SmtpConnection @probe -ErrorAction SilentlyContinue } | Should -Throw -ErrorId $ErrorId
            $mock.SmtpConnectionCount | Should -Be 0
        }

        It 'refuses, row by row, a piped TlsMode None under -QuitAfter Tls as an error, without connecting, and probes the next row' {
            Assert-TlsNoneRowRefused -Command Test-SmtpConnection -ServerProperty SmtpServer -Mock $mock -Port $mock.SmtpPort -ConnectionCount { $mock.SmtpConnectionCount }
        }

        It 'lets a scheduled-task script go on after an unreachable server: exit code 0, the next line runs' {
            $run = Invoke-ScriptTask $mock @'
$r = Test-SmtpConnection -SmtpServer $Server -Port $DeadPort -TimeoutSec 5 -ErrorAction Stop
"success=$($r.Success) stage=$($r.FailedStage)"
if (-not (Test-SmtpConnection -SmtpServer $Server -Port $DeadPort -TimeoutSec 5 -Quiet)) { 'quiet=false' }
'NEXT-LINE-RAN'
'@
            $run.ExitCode | Should -Be 0 -Because $run.Output
            $run.Lines | Should -Be @('success=False stage=Connect', 'quiet=false', 'NEXT-LINE-RAN')
        }
    }
}

# The probe against a real server, smtp4dev 3.15.0 (a dotnet tool of this repository), with
# STARTTLS and authentication required.
Describe 'Test-SmtpConnection against smtp4dev' -Tag Integration {
    BeforeAll {
        . (Join-Path $PSScriptRoot 'common.ps1')
        $password = 'Pr0be!Int3gration'
        $server = Start-Smtp4dev -ExtraArguments @('--tlsmode=StartTls', '--authenticationrequired', '--smtpallowanycredentials-', "--user=alice=$password")
        $alice = [pscredential]::new('alice', (ConvertTo-SecureString $password -AsPlainText -Force))
        # smtp4dev generates a self-signed certificate, hence -SkipCertificateCheck.
        $smtp = @{ SmtpServer = '127.0.0.1'; Port = $server.SmtpPort; SkipCertificateCheck = $true; TimeoutSec = 10 }

        function Get-Received {
            @((Invoke-RestMethod "$($server.WebUrl)/api/messages?pageSize=100").results)
        }
    }

    AfterAll {
        if ($server) { Stop-Smtp4dev $server }
    }

    It 'reports every stage: STARTTLS, the extensions after it, the sign-in and the recipients; and delivers nothing' {
        $r = Test-SmtpConnection @smtp -Credential $alice -From 'ops@example.com' -To 'admin@example.com', 'audit@example.com'

        $r.Success | Should -BeTrue -Because "$($r.Error) $($r.Hint)"
        @($r.Stages) | Should -Be @('Connect', 'Banner', 'Ehlo', 'Tls', 'Auth', 'Recipient')
        $r.Banner | Should -Match '^220 '
        $r.CapabilitiesBeforeTls.StartTls | Should -BeTrue
        $r.Tls.Method | Should -Be 'StartTls'
        $r.Tls.Protocol | Should -Match '^Tls1[23]$'
        $r.Tls.Certificate.Thumbprint | Should -Not -BeNullOrEmpty
        @($r.Capabilities.AuthMechanisms).Count | Should -BeGreaterThan 0
        $r.Authenticated | Should -BeTrue
        $r.AuthReply | Should -Match '^235 '
        $r.Sender.Accepted | Should -BeTrue
        @($r.Recipients.Accepted) | Should -Be @($true, $true)
        Get-Received | Should -BeNullOrEmpty -Because 'a probe never sends a message'
    }

    It 'fails the Auth stage on a wrong password, with the server''s reply and no secret in the result' {
        $bad = [pscredential]::new('alice', (ConvertTo-SecureString 'Wr0ng!Int3gration' -AsPlainText -Force))
        $captured = Invoke-Captured { Test-SmtpConnection @smtp -Credential $bad -To 'admin@example.com' }
        $r = $captured.Records | Where-Object { $_.GetType().FullName -eq 'MailProtocols.Engine.Smtp.SmtpProbeResult' }

        $r.Success | Should -BeFalse
        $r.FailedStage | Should -Be 'Auth'
        $r.AuthReply | Should -Match '^535 '
        $r.Recipients.Count | Should -Be 0
        Assert-NoSecret -Text $captured.Text -Secret 'Wr0ng!Int3gration', $password
        Get-Received | Should -BeNullOrEmpty
    }

    It 'says that its port takes STARTTLS when probed with implicit TLS' {
        $r = Test-SmtpConnection @smtp -TlsMode Implicit

        $r.FailedStage | Should -Be 'Tls'
        $r.Hint | Should -Match 'answered in plain text where a TLS handshake was expected'
    }
}
