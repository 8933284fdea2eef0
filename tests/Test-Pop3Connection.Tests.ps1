# Test-Pop3Connection against the mock: what each stage reports, each stage's failure (the stage,
# the hint, no DELE and the mailbox unchanged), the certificate report, the pipeline, -Quiet,
# -QuitAfter, secrets, the list view at 80 columns, and the error contract (an unreachable server
# is a result; a bad parameter is an error).

BeforeDiscovery {
    # Each stage's failure: how the mock misbehaves, the probe's parameters, and what it must say.
    # Setup gets the mock; Parameters are added to the common ones (the mock's STLS port, alice).
    $failures = @(
        @{ Case = 'nothing listens on the port'; Stage = 'Connect'; Hint = 'Nothing accepts connections on port'
            Parameters = @{ Port = 'dead' } }
        @{ Case = 'a host name that does not resolve'; Stage = 'Connect'; Hint = 'host name does not resolve'
            Parameters = @{ Pop3Server = 'no-such-host.invalid' } }
        @{ Case = 'the greeting is -ERR'; Stage = 'Greeting'; Hint = 'refused the session in its greeting'; Message = 'refused the session: -ERR \[SYS/TEMP\] too busy'
            Setup = { param($m) $null = $m.Pop3ReplyTo('CONNECT', '-ERR [SYS/TEMP] too busy') } }
        @{ Case = 'a plain-text probe of an implicit-TLS port'; Stage = 'Greeting'; Hint = 'either this port expects TLS from the first byte \(try -TlsMode Implicit\), or the server is slow'
            Parameters = @{ Port = 'pop3s'; TlsMode = 'StartTls'; TimeoutSec = 2 } }
        @{ Case = 'a server that goes silent at CAPA'; Stage = 'Capa'; Hint = $null; Message = 'did not answer within 2 s at the Capa stage'
            Parameters = @{ TimeoutSec = 2 }; Setup = { param($m) $null = $m.Pop3NeverReply('CAPA') } }
        @{ Case = 'implicit TLS on the STLS port'; Stage = 'Tls'; Hint = 'answered in plain text \(\+OK\) where a TLS handshake was expected.*-TlsMode StartTls'
            Parameters = @{ TlsMode = 'Implicit' } }
        @{ Case = 'no STLS offered where -TlsMode StartTls requires it'; Stage = 'Tls'; Hint = 'does not offer STLS on this port'
            Parameters = @{ TlsMode = 'StartTls' }; Setup = { param($m) $m.Pop3.Stls = $false } }
        @{ Case = 'STLS offered and refused'; Stage = 'Tls'; Hint = 'lists STLS but refused it'; Message = 'offered STLS but refused it: -ERR \[SYS/TEMP\]'
            Setup = { param($m) $m.Pop3.StlsFails = $true } }
        @{ Case = 'a wrong password'; Stage = 'Auth'; Hint = 'user name or password is wrong \(\[AUTH\]\)'; Message = "refused the login of 'alice' \(PLAIN\): -ERR \[AUTH\]"
            Parameters = @{ Credential = 'bad' } }
        @{ Case = '[IN-USE]: another session holds the mailbox'; Stage = 'Auth'; Hint = 'Another session holds the mailbox'
            Setup = { param($m) $null = $m.Pop3ReplyTo('AUTH', '-ERR [IN-USE] Mailbox is locked by another session') } }
        @{ Case = '[LOGIN-DELAY]: a login too soon after the last'; Stage = 'Auth'; Hint = '\[LOGIN-DELAY\]\) and an earlier one was too recent'
            Setup = { param($m) $null = $m.Pop3ReplyTo('AUTH', '-ERR [LOGIN-DELAY] Wait 15 minutes between logins') } }
        @{ Case = '[SYS/TEMP] at login'; Stage = 'Auth'; Hint = 'temporary problem \(\[SYS/TEMP\]\)'
            Setup = { param($m) $null = $m.Pop3ReplyTo('AUTH', '-ERR [SYS/TEMP] Mail store unavailable') } }
        @{ Case = 'a plain-text login refused by the server''s policy'; Stage = 'Auth'; Hint = 'refuses to sign in over plain text'
            Parameters = @{ TlsMode = 'None'; AllowUnencryptedAuthentication = $true }; Setup = { param($m) $m.Pop3.AuthRequiresTls = $true } }
        @{ Case = 'credentials withheld over plain text'; Stage = 'Auth'; Hint = 'not encrypted, so the credentials were not sent'; Message = 'so the credentials were not sent'
            Parameters = @{ TlsMode = 'None' } }
        @{ Case = 'Exchange Online with Basic authentication off'; Stage = 'Auth'; Hint = 'Basic authentication is off for POP3.*POP\.AccessAsApp'
            Setup = { param($m) $m.Pop3.ExchangeAuthRefusal = $true } }
        @{ Case = 'no sign-in the module can use'; Stage = 'Auth'; Hint = 'offers no sign-in this module can use'
            Setup = { param($m) $m.Pop3.SaslMechanisms = [string[]]@(); $m.Pop3.User = $false; $m.Pop3.Apop = $false } }
        @{ Case = 'STAT refused'; Stage = 'Stat'; Hint = 'temporary problem \(\[SYS/TEMP\]\)'; Message = 'refused STAT: -ERR \[SYS/TEMP\]'
            Setup = { param($m) $null = $m.Pop3ReplyTo('STAT', '-ERR [SYS/TEMP] Cannot count the mailbox now') } }
        @{ Case = 'a server that goes silent at STAT'; Stage = 'Stat'; Hint = $null; Message = 'did not answer within 2 s at the Stat stage'
            Parameters = @{ TimeoutSec = 2 }; Setup = { param($m) $null = $m.Pop3NeverReply('STAT') } }
    )
    foreach ($f in $failures) { foreach ($key in 'Parameters', 'Setup', 'Message') { if (-not $f.ContainsKey($key)) { $f[$key] = $null } } }
}

Describe 'Test-Pop3Connection' {
    BeforeAll {
        . (Join-Path $PSScriptRoot 'common.ps1')
        . (Join-Path $PSScriptRoot 'TestTools/ConnectionProbe.ps1')
        $mock = New-MockServer
        $password = $mock.Users['alice']
        $alice = [pscredential]::new('alice', (ConvertTo-SecureString $password -AsPlainText -Force))
        $badPassword = 'Wr0ng-Pa55'
        $bad = [pscredential]::new('alice', (ConvertTo-SecureString $badPassword -AsPlainText -Force))

        function Get-Probe {
            # The mock's STLS port, alice, its self-signed certificate skipped, a short timeout.
            @{ Pop3Server = $mock.Host; Port = $mock.Pop3Port; Credential = $alice; SkipCertificateCheck = $true; TimeoutSec = 5 }
        }

        function Assert-MailboxUntouched {
            # No session sent DELE (nor RETR or TOP: a probe reads nothing), none committed a
            # deletion, and alice's mailbox holds what it held before.
            param($Mock, [string[]] $Uids)
            $null = $Mock.WaitForIdle(5000)
            foreach ($s in $Mock.Pop3Sessions) {
                @($s.Commands | Where-Object { $_ -match '^(DELE|RETR|TOP)\b' }).Count | Should -Be 0 -Because 'a probe never marks or reads a message'
                @($s.DeletedUids).Count | Should -Be 0
            }
            @($Mock.GetMailbox('alice').Uid) | Should -Be $Uids
        }
    }

    AfterAll {
        $mock.Dispose()
    }

    BeforeEach {
        $mock.Reset()
        $uids = @($mock.AddTestMessages('alice', 3))
        $probe = Get-Probe
    }

    It 'reports every stage of a full probe: greeting, CAPA as data before and after STLS, TLS and certificate, login, STAT; then QUIT' {
        $mock.Pop3.ExtraCapabilities = [string[]]@('EXPIRE 30 USER', 'LOGIN-DELAY 900')
        $r = Test-Pop3Connection @probe

        $r.GetType().FullName | Should -Be 'MailProtocols.Engine.Pop3.Pop3ProbeResult'
        $r.Success | Should -BeTrue
        $r.FailedStage | Should -BeNullOrEmpty
        $r.Error | Should -BeNullOrEmpty
        @($r.Stages) | Should -Be @('Connect', 'Greeting', 'Capa', 'Tls', 'Auth', 'Stat')
        foreach ($t in 'ConnectTime', 'GreetingTime', 'CapaTime', 'TlsTime', 'AuthTime', 'StatTime') { $r.$t | Should -BeOfType [timespan] }
        $r.Endpoint | Should -Be "$($mock.Host):$($mock.Pop3Port)"
        @($r.Addresses) | Should -Be @('127.0.0.1')
        $r.Greeting | Should -Match '^\+OK MockMail POP3 ready <[^>]+@mock\.test>$'
        $r.ApopTimestamp | Should -Match '^<[^>]+@mock\.test>$'
        $r.Greeting | Should -BeLike "*$($r.ApopTimestamp)"

        $r.CapaSupported | Should -BeTrue
        $before = $r.CapabilitiesBeforeTls
        $after = $r.Capabilities
        $before.Stls | Should -BeTrue
        $after.Stls | Should -BeFalse -Because 'after STLS the server no longer offers it'
        foreach ($c in $before, $after) {
            $c.Top | Should -BeTrue
            $c.Uidl | Should -BeTrue
            $c.Pipelining | Should -BeTrue
            $c.User | Should -BeTrue
            $c.RespCodes | Should -BeTrue
            $c.AuthRespCode | Should -BeTrue
            @($c.SaslMechanisms) | Should -Be @('PLAIN', 'LOGIN', 'XOAUTH2')
            $c.Expire | Should -Be '30 USER'
            $c.LoginDelaySeconds | Should -Be 900
            $c.Implementation | Should -Be 'MockMail'
        }

        $r.Tls.Method | Should -Be 'StartTls'
        $r.Tls.Protocol | Should -Match '^Tls1[23]$'
        $r.Tls.CipherSuite | Should -Not -BeNullOrEmpty
        $r.Tls.Certificate.Thumbprint | Should -Be $mock.Certificate.Thumbprint
        $r.Tls.Certificate.Valid | Should -BeFalse -Because 'the mock''s certificate is self-signed'
        @($r.Tls.Certificate.Problems) | Should -Contain 'UntrustedRoot'

        $r.AuthMechanism | Should -Be 'PLAIN'
        $r.AuthReply | Should -Match '^\+OK'
        $r.Authenticated | Should -BeTrue
        $r.MessageCount | Should -Be 3
        $r.MailboxSize | Should -Be (($mock.GetMailbox('alice') | Measure-Object Size -Sum).Sum)
        $r.Hint | Should -Match 'one login every 900 s \(LOGIN-DELAY\)'

        $null = $mock.WaitForIdle(5000)
        $s = $mock.Pop3Sessions[0]
        @($s.Commands | ForEach-Object { ($_ -split ' ')[0] }) | Should -Be @('CAPA', 'STLS', 'CAPA', 'AUTH', 'STAT', 'QUIT')
        $s.User | Should -Be 'alice'
        $s.QuitReceived | Should -BeTrue
        $s.Committed | Should -BeTrue -Because 'QUIT ends the session cleanly'
        Assert-MailboxUntouched $mock $uids
    }

    It 'signs in with APOP when the server offers nothing else, and keeps the digest out of the transcript' {
        $mock.Pop3.SaslMechanisms = [string[]]@()
        $mock.Pop3.User = $false
        $path = Join-Path $TestDrive 'apop.log'
        $r = Test-Pop3Connection @probe -TranscriptPath $path

        $r.Success | Should -BeTrue
        $r.AuthMechanism | Should -Be 'APOP'
        $mock.Pop3Sessions[0].AuthMechanism | Should -Be 'APOP'
        $text = Get-Content -LiteralPath $path -Raw
        $text | Should -Match 'APOP alice \*+'
        $text | Should -Not -Match 'APOP alice [0-9a-f]{32}'
    }

    It 'probes a server without CAPA: no capabilities, and the login falls back to USER/PASS' {
        $mock.Pop3.Capa = $false
        $r = Test-Pop3Connection @probe -TlsMode None -AllowUnencryptedAuthentication

        $r.Success | Should -BeTrue
        $r.CapaSupported | Should -BeFalse
        $r.Capabilities | Should -BeNullOrEmpty
        $r.AuthMechanism | Should -Be 'USER'
        $r.MessageCount | Should -Be 3
    }

    It 'reports implicit TLS on the implicit-TLS port' {
        $r = Test-Pop3Connection @probe -Port $mock.Pop3sPort -TlsMode Implicit

        $r.Success | Should -BeTrue
        @($r.Stages) | Should -Be @('Connect', 'Tls', 'Greeting', 'Capa', 'Auth', 'Stat')
        $r.Tls.Method | Should -Be 'Implicit'
        $r.CapabilitiesBeforeTls | Should -BeNullOrEmpty
        $mock.Pop3Sessions[0].ImplicitTls | Should -BeTrue
    }

    It 'says when the server offers no STLS, without failing a probe that did not require it' {
        $mock.Pop3.Stls = $false
        $probe.Remove('Credential')
        $r = Test-Pop3Connection @probe

        $r.Success | Should -BeTrue
        $r.Tls | Should -BeNullOrEmpty
        @($r.Stages) | Should -Be @('Connect', 'Greeting', 'Capa')
        $r.Hint | Should -Match 'does not offer STLS: the password and the mail would go in plain text'
    }

    It 'warns that EXPIRE 0 deletes what a client downloads' {
        $mock.Pop3.ExtraCapabilities = [string[]]@('EXPIRE 0')
        $r = Test-Pop3Connection @probe

        $r.Success | Should -BeTrue
        $r.Capabilities.Expire | Should -Be '0'
        $r.Hint | Should -Match 'deletes a message once a client has downloaded it \(EXPIRE 0\)'
    }

    It 'bounds the whole CAPA stage by -TimeoutSec, even when each line comes in time' {
        # One byte every 20 ms: each line (29 bytes at most) within 1 s, the whole list in about 3 s.
        $null = $mock.Pop3Trickle('CAPA', 20, 1)
        $watch = [Diagnostics.Stopwatch]::StartNew()
        $r = Test-Pop3Connection @probe -TimeoutSec 1
        $watch.Stop()

        $r.FailedStage | Should -Be 'Capa'
        $r.Error | Should -Match 'did not answer within 1 s at the Capa stage'
        $watch.Elapsed.TotalSeconds | Should -BeLessThan 2.2
    }

    Context 'a stage fails: <Case>' -ForEach $failures {
        It 'reports the stage and the hint as a result, not an error, marks nothing and leaves the mailbox as it was' {
            if ($Setup) { & $Setup $mock }
            $stand = @{ dead = { Get-FreeTcpPort }; pop3s = { $mock.Pop3sPort }; bad = { $bad } }
            foreach ($key in @(if ($Parameters) { $Parameters.Keys })) {
                $value = $Parameters[$key]
                $probe[$key] = if ($value -is [string] -and $stand.ContainsKey($value)) { & $stand[$value] } else { $value }
            }

            $captured = Invoke-Captured { Test-Pop3Connection @probe -Verbose -ErrorVariable errors -ErrorAction SilentlyContinue }
            $r = @($captured.Records | Where-Object { $_ -isnot [System.Management.Automation.VerboseRecord] })

            $r.Count | Should -Be 1
            $r = $r[0]
            @($captured.Records | Where-Object { $_ -is [System.Management.Automation.ErrorRecord] }).Count | Should -Be 0 -Because 'a failed stage is a result'
            $r.Success | Should -BeFalse
            $r.FailedStage | Should -Be $Stage
            $r.Error | Should -Not -BeNullOrEmpty
            if ($Message) { $r.Error | Should -Match $Message }
            if ($Hint) { $r.Hint | Should -Match $Hint }
            else { $r.Hint | Should -Not -Match 'STLS|TLS from the first byte|sign in|\[' -Because 'no hint of another failure' }
            @($r.Stages)[-1] | Should -Be $Stage
            Assert-MailboxUntouched $mock $uids
            Assert-NoSecret -Text $captured.Text -Secret $password, $badPassword, "`0alice`0$password"
        }
    }

    Context 'the certificate' {
        BeforeAll {
            $authority = [MockMail.TestCertificates]::CreateAuthority('Pop3 Probe Test CA')
            $now = [DateTimeOffset]::Now
            $certificates = @{
                Other    = [MockMail.TestCertificates]::CreateServerCertificate($authority, 'other.example.com', $now.AddDays(-1), $now.AddDays(200))
                Expired  = [MockMail.TestCertificates]::CreateServerCertificate($authority, 'localhost', $now.AddDays(-60), $now.AddDays(-2))
                Expiring = [MockMail.TestCertificates]::CreateServerCertificate($authority, 'localhost', $now.AddDays(-60), $now.AddDays(5).AddHours(1))
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
            $r = Test-Pop3Connection -Pop3Server localhost -Port $tlsMock.Pop3sPort -TlsMode Implicit -Credential $alice -TimeoutSec 5

            $r.Tls.Certificate.Subject | Should -Be 'CN=other.example.com'
            @($r.Tls.Certificate.Problems) | Should -Contain 'NameMismatch'
            $r.Hint | Should -Match "The certificate is for other\.example\.com, not for 'localhost'"
            $r.Hint | Should -Match 'issuer is not trusted on this machine'
            $r.FailedStage | Should -Be 'Auth'
            $r.Error | Should -Match 'so the credentials were not sent'
            $r.Hint -split "`n" | Select-Object -First 1 | Should -Match 'the credentials were not sent' -Because 'the failure''s own hint comes first'
            $null = $tlsMock.WaitForIdle(5000)
            $tlsMock.Pop3Sessions[0].AuthAttempts | Should -Be 0
            $tlsMock.Pop3Sessions[0].QuitReceived | Should -BeTrue
        }

        It 'reports an expired certificate: Expired, negative days, a hint; the probe itself succeeds' {
            $r = Test-Pop3Connection -Pop3Server localhost -Port $tlsMocks.Expired.Pop3Port -TimeoutSec 5

            $r.Success | Should -BeTrue
            @($r.Tls.Certificate.Problems) | Should -Contain 'Expired'
            $r.Tls.Certificate.DaysToExpiry | Should -BeLessThan 0
            $r.Hint | Should -Match 'The certificate expired on \d{4}-\d\d-\d\d'
        }

        It 'warns of a certificate about to expire' {
            $r = Test-Pop3Connection -Pop3Server localhost -Port $tlsMocks.Expiring.Pop3Port -TimeoutSec 5

            $r.Tls.Certificate.DaysToExpiry | Should -Be 5
            $r.Hint | Should -Match 'The certificate expires in 5 days'
        }
    }

    Context 'the TLS version' {
        BeforeAll {
            # A mock in a child that offers nothing newer than TLS 1.1 (see New-OldTlsOpenSslConfig);
            # on a line from stdin it reports each session (TLS version/logins/DELE, RETR or TOP)
            # and how many messages alice's mailbox still holds.
            $opensslConf = New-OldTlsOpenSslConfig
            $oldTls = Start-Child -Environment @{ OPENSSL_CONF = $opensslConf } -Command @"
Add-Type -Path '$mockPath'
`$m = [MockMail.MockServer]::new()
`$m.TlsProtocols = 'Tls, Tls11'
`$m.Start()
`$null = `$m.AddTestMessages('alice', 3)
'PORTS ' + `$m.Pop3Port + ' ' + `$m.Pop3sPort
`$null = [Console]::In.ReadLine()
`$null = `$m.WaitForIdle(5000)
'SESSIONS ' + (@(`$m.Pop3Sessions | ForEach-Object { "`$(`$_.TlsProtocol)/`$(`$_.AuthAttempts)/`$(@(`$_.Commands -match '^(DELE|RETR|TOP)\b').Count)" }) -join ' ')
'MAILBOX ' + @(`$m.GetMailbox('alice')).Count
`$m.Dispose()
"@
            $oldPorts = (Read-ChildLine $oldTls 'PORTS ') -split ' '
        }

        AfterAll {
            if ($oldTls -and -not $oldTls.HasExited) { $oldTls.Kill($true) }
        }

        It 'says that the server may offer only TLS 1.0/1.1 when this machine refuses its handshake, on STLS and implicit TLS' {
            $stls = Test-Pop3Connection -Pop3Server 127.0.0.1 -Port $oldPorts[0] -Credential $alice -SkipCertificateCheck -TimeoutSec 10
            $implicit = Test-Pop3Connection -Pop3Server 127.0.0.1 -Port $oldPorts[1] -TlsMode Implicit -Credential $alice -SkipCertificateCheck -TimeoutSec 10

            foreach ($r in $stls, $implicit) {
                $r.Success | Should -BeFalse
                $r.FailedStage | Should -Be 'Tls'
                $r.Hint | Should -Match 'may offer only TLS 1\.0/1\.1 or ciphers this machine refuses'
                $r.Tls | Should -BeNullOrEmpty
                $r.Authenticated | Should -BeFalse
            }
        }

        It 'names TLS 1.1 when a client that allows it negotiated it' {
            Assert-Tls11Named -Command Test-Pop3Connection -ServerParameter Pop3Server -Port $oldPorts[0] -OpensslConf $opensslConf -ModulePath $modulePath
        }

        It 'logged in to the TLS 1.0/1.1 server nowhere and marked nothing: no login, no DELE, the mailbox whole' {
            $oldTls.StandardInput.WriteLine('')
            $sessions = (Read-ChildLine $oldTls 'SESSIONS ') -split ' '
            $left = Read-ChildLine $oldTls 'MAILBOX '
            $null = $oldTls.WaitForExit(15000)

            $sessions.Count | Should -Be 3
            foreach ($s in $sessions) { $s | Should -Match '/0/0$' }
            $sessions | Should -Contain 'Tls11/0/0'
            $left | Should -Be '3'
        }
    }

    It '-Quiet returns only $true or $false' {
        $ok = Test-Pop3Connection @probe -Quiet
        $probe.Port = Get-FreeTcpPort
        $dead = Test-Pop3Connection @probe -Quiet

        $ok | Should -BeOfType [bool]
        $ok | Should -BeTrue
        $dead | Should -BeOfType [bool]
        $dead | Should -BeFalse
    }

    It 'probes a list of endpoints from a CSV in one pipeline, binding Pop3Server, Port and TlsMode by name, in order' {
        $csv = Join-Path $TestDrive 'servers.csv'
        $dead = Get-FreeTcpPort
        @(
            [pscustomobject]@{ Pop3Server = '127.0.0.1'; Port = $mock.Pop3Port; TlsMode = 'Auto' }
            [pscustomobject]@{ Pop3Server = 'localhost'; Port = $mock.Pop3sPort; TlsMode = 'Implicit' }
            [pscustomobject]@{ Pop3Server = '127.0.0.1'; Port = $dead; TlsMode = 'Auto' }
            [pscustomobject]@{ Pop3Server = 'localhost'; Port = $mock.Pop3Port; TlsMode = 'Implicit' }
        ) | Export-Csv -LiteralPath $csv
        $results = @(Import-Csv -LiteralPath $csv | Test-Pop3Connection -Credential $alice -SkipCertificateCheck -TimeoutSec 5)

        $results.Count | Should -Be 4
        @($results.Port) | Should -Be @($mock.Pop3Port, $mock.Pop3sPort, $dead, $mock.Pop3Port)
        @($results.Success) | Should -Be @($true, $true, $false, $false)
        @($results[0, 1].MessageCount) | Should -Be @(3, 3)
        @($results[0, 1].Tls.Method) | Should -Be @('StartTls', 'Implicit')
        @($results[2, 3].FailedStage) | Should -Be @('Connect', 'Tls')
        Assert-MailboxUntouched $mock $uids
    }

    It 'goes on to the next endpoint when one fails in an unexpected way (a malformed SASL challenge)' {
        $mock.Pop3.SaslMechanisms = [string[]]@('LOGIN')
        $null = $mock.Pop3ReplyTo('AUTH', $null, '+ !!not*base64!!', 1)
        $results = @($mock.Host, 'localhost' | Test-Pop3Connection -Port $mock.Pop3Port -Credential $alice -SkipCertificateCheck -TimeoutSec 5 -ErrorAction Stop)

        $results.Count | Should -Be 2
        $results[0].Success | Should -BeFalse
        $results[0].FailedStage | Should -Be 'Auth'
        $results[1].Success | Should -BeTrue
        $results[1].AuthMechanism | Should -Be 'LOGIN'
    }

    It '-QuitAfter <QuitAfter> runs the stages up to it and then QUITs' -ForEach @(
        @{ QuitAfter = 'Connect'; Stages = @('Connect'); Commands = @() }
        @{ QuitAfter = 'Greeting'; Stages = @('Connect', 'Greeting'); Commands = @('QUIT') }
        @{ QuitAfter = 'Capa'; Stages = @('Connect', 'Greeting', 'Capa'); Commands = @('CAPA', 'QUIT') }
        @{ QuitAfter = 'Tls'; Stages = @('Connect', 'Greeting', 'Capa', 'Tls'); Commands = @('CAPA', 'STLS', 'CAPA', 'QUIT') }
        @{ QuitAfter = 'Auth'; Stages = @('Connect', 'Greeting', 'Capa', 'Tls', 'Auth'); Commands = @('CAPA', 'STLS', 'CAPA', 'AUTH', 'QUIT') }
        @{ QuitAfter = 'Stat'; Stages = @('Connect', 'Greeting', 'Capa', 'Tls', 'Auth', 'Stat'); Commands = @('CAPA', 'STLS', 'CAPA', 'AUTH', 'STAT', 'QUIT') }
    ) {
        $r = Test-Pop3Connection @probe -QuitAfter $QuitAfter
        $null = $mock.WaitForIdle(5000)

        $r.Success | Should -BeTrue
        @($r.Stages) | Should -Be $Stages
        # A connection closed at once may end before the mock records a session: none is no command.
        @($mock.Pop3Sessions).Count | Should -BeLessOrEqual 1
        @($mock.Pop3Sessions.Commands | Where-Object { $_ } | ForEach-Object { ($_ -split ' ')[0] }) | Should -Be $Commands
    }

    Context 'secrets' {
        It 'keeps the password out of the output, -Verbose and the transcript' {
            $path = Join-Path $TestDrive 'probe.log'
            $captured = Invoke-Captured { Test-Pop3Connection @probe -TranscriptPath $path -Verbose }

            $text = Get-Content -LiteralPath $path -Raw
            $text | Should -Match 'AUTH PLAIN \*+'
            $text | Should -Match 'STAT'
            $captured.Text | Should -Match 'Auth \(\d+ ms\): PLAIN: \+OK'
            Assert-NoSecret -Text ($captured.Text + $text) -Secret $password, "`0alice`0$password"
        }

        It 'keeps the password out of a USER/PASS transcript' {
            $mock.Pop3.SaslMechanisms = [string[]]@()
            $path = Join-Path $TestDrive 'user.log'
            $r = Test-Pop3Connection @probe -TranscriptPath $path

            $r.AuthMechanism | Should -Be 'USER'
            $text = Get-Content -LiteralPath $path -Raw
            $text | Should -Match 'PASS \*+'
            Assert-NoSecret -Text $text -Secret $password
        }

        It 'signs in with an OAuth2 token (XOAUTH2) and shows it nowhere; a refused token gets its hint' {
            $tokenText = $mock.OAuthTokens['alice']
            $token = ConvertTo-SecureString $tokenText -AsPlainText -Force
            $probe.Remove('Credential')
            $path = Join-Path $TestDrive 'oauth.log'
            $captured = Invoke-Captured { Test-Pop3Connection @probe -UserName alice -AccessToken $token -TranscriptPath $path -Verbose }
            $r = $captured.Records | Where-Object { $_ -isnot [System.Management.Automation.VerboseRecord] }
            $refused = Test-Pop3Connection @probe -UserName alice -AccessToken (ConvertTo-SecureString 'expired-token' -AsPlainText -Force)

            $r.Success | Should -BeTrue
            $r.AuthMechanism | Should -Be 'XOAUTH2'
            $refused.FailedStage | Should -Be 'Auth'
            $refused.Hint | Should -Match 'refused the token'
            Assert-NoSecret -Text ($captured.Text + (Get-Content -LiteralPath $path -Raw)) -Secret $tokenText
        }
    }

    Context 'app-only sign-in' {
        BeforeAll {
            # A child pwsh trusts the test CA as the system store does (SSL_CERT_FILE), so that the
            # token endpoint's certificate passes its check; the mail server's is skipped.
            $appAuthority = [MockMail.TestCertificates]::CreateAuthority('Pop3 Probe OAuth CA')
            $appNow = [DateTimeOffset]::UtcNow
            $appCertificate = [MockMail.TestCertificates]::CreateServerCertificate($appAuthority, 'localhost', $appNow.AddDays(-1), $appNow.AddDays(30))
            $caBundle = Join-Path $TestDrive 'pop3-probe-ca.pem'
            Set-Content -Path $caBundle -Value ([MockMail.TestCertificates]::ToPem($appAuthority)) -NoNewline
            $entra = [MockMail.MockEntra]::new($appCertificate)
            $entra.Start()
            $appSecret = 'Pr0be~Secret.Value_77'
            $entra.AddApp('contoso', 'app-pop', $appSecret, [string[]]@('reports@contoso.com'))
            $appMock = [MockMail.MockServer]::new()
            $appMock.UseCertificate($appCertificate)
            $appMock.Entra = $entra
            $appMock.Start()
            $appUids = @($appMock.AddTestMessages('reports@contoso.com', 2))
            $outcome = Invoke-TrustingChild -CaBundle $caBundle -HomeDir (New-Item -ItemType Directory (Join-Path $TestDrive 'home-probe')).FullName -Data @{
                Secret = $appSecret; Authority = $entra.Authority; Pop3Port = $appMock.Pop3Port; Transcript = (Join-Path $TestDrive 'app-probe.log')
            } -Body @'
$app = @{ Pop3Server = 'localhost'; Port = $p.Pop3Port; TenantId = 'contoso'; ClientId = 'app-pop'; Authority = $p.Authority
    UserName = 'reports@contoso.com'; TimeoutSec = 30; TranscriptPath = $p.Transcript }
$captured = Invoke-Captured {
    $ok = Test-Pop3Connection @app -ClientSecret (ConvertTo-SecureString $p.Secret -AsPlainText -Force) -Verbose
    $bad = Test-Pop3Connection @app -ClientSecret (ConvertTo-SecureString 'Wr0ng~Secret' -AsPlainText -Force) -ErrorAction Stop
    $outcome.Ok = @{ Success = $ok.Success; Mechanism = $ok.AuthMechanism; Count = $ok.MessageCount }
    $outcome.Bad = @{ Success = $bad.Success; Stage = "$($bad.FailedStage)"; Hint = $bad.Hint; Stages = @($bad.Stages | ForEach-Object { "$_" }); Tls = [bool]$bad.Tls }
}
$outcome.Errors = @($captured.Records | Where-Object { $_ -is [System.Management.Automation.ErrorRecord] } | ForEach-Object { "$_" })
$outcome.Text = $captured.Text + "`n" + (Get-Content -LiteralPath $p.Transcript -Raw)
'@
            $null = $appMock.WaitForIdle(5000)
        }

        AfterAll {
            $appMock.Dispose()
            $entra.Dispose()
        }

        It 'logs in as the app with XOAUTH2 and counts the mailbox' {
            $outcome.Errors | Should -BeNullOrEmpty
            $outcome.Ok.Success | Should -BeTrue
            $outcome.Ok.Mechanism | Should -Be 'XOAUTH2'
            $outcome.Ok.Count | Should -Be 2
            $appMock.Pop3Sessions[0].AuthMechanism | Should -Be 'XOAUTH2'
            @($appMock.GetMailbox('reports@contoso.com').Uid) | Should -Be $appUids
        }

        It 'reports a refused client secret as the Auth stage''s failure with its fix, after probing the server up to it, and sends no login' {
            $outcome.Bad.Success | Should -BeFalse
            $outcome.Bad.Stage | Should -Be 'Auth'
            $outcome.Bad.Stages | Should -Be @('Connect', 'Greeting', 'Capa', 'Tls', 'Auth')
            $outcome.Bad.Tls | Should -BeTrue
            $outcome.Bad.Hint | Should -Match 'client secret is wrong'
            $appMock.Pop3Sessions[1].AuthAttempts | Should -Be 0
            $appMock.Pop3Sessions[1].QuitReceived | Should -BeTrue
        }

        It 'shows neither the secret nor a token in the output, -Verbose or the transcript' {
            $outcome.Text | Should -Match 'AUTH XOAUTH2 \*+'
            $entra.Secrets.Count | Should -BeGreaterOrEqual 1
            Assert-NoSecret -Text $outcome.Text -Secret (@($appSecret, 'Wr0ng~Secret') + $entra.Secrets)
        }
    }

    It 'stops at once on Ctrl+C while the server is silent' {
        $null = $mock.Pop3NeverReply('CAPA')
        $stop = Measure-Stop -Script {
            param($Port, $Credential)
            Test-Pop3Connection -Pop3Server 127.0.0.1 -Port $Port -Credential $Credential -TimeoutSec 60
        } -ArgumentList $mock.Pop3Port, $alice -Until { $mock.Pop3Sessions.Commands -contains 'CAPA' }

        $stop.Reached | Should -BeTrue
        $stop.Completed | Should -BeTrue
        $stop.Seconds | Should -BeLessThan 1
        $stop.State | Should -Be 'Stopped'
    }

    Context 'the list view' {
        It 'reads at an 80-column prompt: no line over 80, no word cut, one hint per line' {
            $mock.Pop3.Stls = $false
            $failed = Test-Pop3Connection @probe -AllowUnencryptedAuthentication -Credential $bad
            $mock.Reset()
            $null = $mock.AddTestMessages('alice', 3)
            $ok = Test-Pop3Connection @probe -Port $mock.Pop3sPort -TlsMode Implicit
            $text = ($failed, $ok | Out-String -Width 80) -replace "`r", ''
            $lines = $text -split "`n"

            @($lines | Where-Object { $_.TrimEnd().Length -gt 80 }) | Should -BeNullOrEmpty
            foreach ($label in 'Endpoint', 'Success', 'FailedStage', 'Error', 'Hint', 'Greeting', 'Timings', 'Capa', 'Sasl', 'Login', 'Tls', 'Certificate', 'CertCheck', 'Mailbox') {
                $text | Should -Match "(?m)^$label\s+: " -Because "the view shows $label"
            }
            # Each hint starts on a line of its own, and every word of it is whole at 80 columns.
            $hints = $failed.Hint -split "`n"
            $hints.Count | Should -BeGreaterThan 1
            foreach ($hint in $hints) {
                $start = ($hint -split ' ')[0..2] -join ' '
                $text | Should -Match "(?m)(^Hint\s+: |^\s{14})$([regex]::Escape($start))"
                foreach ($word in $hint -split ' ') { $text | Should -Match "(?<=\s)$([regex]::Escape($word))(?=\s|$)" }
            }
            $text | Should -Match '(?m)^Mailbox\s+: 3 messages, [\d,.]+ bytes$'
            $text | Should -Match '(?m)^Tls\s+: none$'
        }
    }

    Context 'errors' {
        It 'writes no error for an unreachable server, even with -ErrorAction Stop' {
            { $script:r = Test-Pop3Connection -Pop3Server 127.0.0.1 -Port (Get-FreeTcpPort) -TimeoutSec 5 -ErrorAction Stop } | Should -Not -Throw
            $r.Success | Should -BeFalse
            $r.FailedStage | Should -Be 'Connect'
        }

        It 'fails on a bad parameter before connecting, whatever -ErrorAction says: <Case>' -ForEach @(
            @{ Case = '-QuitAfter Auth without credentials'; ErrorId = 'QuitAfterNeedsInput,MailProtocols.Commands.TestPop3ConnectionCommand'
                Parameters = @{ QuitAfter = 'Auth'; Credential = $null } }
            @{ Case = '-QuitAfter Stat with an empty credential'; ErrorId = 'QuitAfterNeedsInput,MailProtocols.Commands.TestPop3ConnectionCommand'
                Parameters = @{ QuitAfter = 'Stat'; Credential = [pscredential]::Empty } }
            @{ Case = '-QuitAfter Tls with -TlsMode None'; ErrorId = 'QuitAfterNeedsInput,MailProtocols.Commands.TestPop3ConnectionCommand'
                Parameters = @{ QuitAfter = 'Tls'; TlsMode = 'None' } }
            @{ Case = '-UseSsl with -TlsMode None'; ErrorId = 'ConflictingTlsParameters,MailProtocols.Commands.TestPop3ConnectionCommand'
                Parameters = @{ UseSsl = $true; TlsMode = 'None' } }
            @{ Case = 'a port out of range'; ErrorId = 'ParameterArgumentValidationError,MailProtocols.Commands.TestPop3ConnectionCommand'
                Parameters = @{ Port = 70000 } }
            @{ Case = 'an unknown -QuitAfter stage'; ErrorId = 'CannotConvertArgumentNoMessage,MailProtocols.Commands.TestPop3ConnectionCommand'
                Parameters = @{ QuitAfter = 'Retr' } }
        ) {
            foreach ($key in $Parameters.Keys) { if ($null -eq $Parameters[$key]) { $probe.Remove($key) } else { $probe[$key] = $Parameters[$key] } }

            { Test-Pop3Connection @probe -ErrorAction SilentlyContinue } | Should -Throw -ErrorId $ErrorId
            $mock.Pop3ConnectionCount | Should -Be 0
        }

        It 'refuses a password with a line break as an error, before connecting' {
            $broken = [pscredential]::new('alice', (ConvertTo-SecureString "$password`r`nDELE 1" -AsPlainText -Force))
            $probe.Credential = $broken
            $r = Test-Pop3Connection @probe -ErrorVariable errors -ErrorAction SilentlyContinue

            $r | Should -BeNullOrEmpty
            $errors[0].FullyQualifiedErrorId | Should -Be 'CredentialHasLineBreak,MailProtocols.Commands.TestPop3ConnectionCommand'
            $mock.Pop3ConnectionCount | Should -Be 0
        }

        It 'refuses, row by row, a piped TlsMode None under -QuitAfter Tls as an error, without connecting, and probes the next row' {
            Assert-TlsNoneRowRefused -Command Test-Pop3Connection -ServerProperty Pop3Server -Mock $mock -Port $mock.Pop3Port -ConnectionCount { $mock.Pop3ConnectionCount }
        }

        It 'lets a scheduled-task script go on after an unreachable server: exit code 0, the next line runs' {
            $run = Invoke-ScriptTask $mock @'
$r = Test-Pop3Connection -Pop3Server $Server -Port $DeadPort -Credential $Cred -TimeoutSec 5 -ErrorAction Stop
"success=$($r.Success) stage=$($r.FailedStage)"
$ok = Test-Pop3Connection -Pop3Server $Server -Port $Pop3Port -Credential $Cred -SkipCertificateCheck -TimeoutSec 5 -ErrorAction Stop
"ok=$($ok.Success) count=$($ok.MessageCount)"
if (-not (Test-Pop3Connection -Pop3Server $Server -Port $DeadPort -TimeoutSec 5 -Quiet)) { 'quiet=false' }
'NEXT-LINE-RAN'
'@
            $run.ExitCode | Should -Be 0 -Because $run.Output
            $run.Lines | Should -Be @('success=False stage=Connect', 'ok=True count=3', 'quiet=false', 'NEXT-LINE-RAN')
            Assert-MailboxUntouched $mock $uids
        }
    }
}
