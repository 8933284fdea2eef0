# Signing in as the current logon (-UseDefaultCredentials, Kerberos over SASL GSSAPI) against a
# throwaway MIT realm (tests/TestTools/Kerberos.ps1): the client runs as a user would, in a child
# pwsh whose KRB5_CONFIG and KRB5CCNAME name the realm and the ticket kinit put there; the mock
# verifies the ticket with the realm's service keytab; so do two verifiers this project did not
# write: Dovecot over POP3 (tests/TestTools/Dovecot.ps1) and Postfix asking Dovecot through its
# SASL socket (tests/TestTools/Postfix.ps1). Where the packages cannot be installed, the tests
# that need them are skipped with the reason.

BeforeAll {
    . (Join-Path $PSScriptRoot 'common.ps1')
    . (Join-Path $PSScriptRoot 'TestTools/Kerberos.ps1')
    . (Join-Path $PSScriptRoot 'TestTools/Dovecot.ps1')
    $script:noRealm = $null
    try {
        $script:realm = New-KerberosRealm
        Write-Host "Kerberos realm set up in $([math]::Round($realm.SetupSeconds, 1)) s (package install $([math]::Round($realm.InstallSeconds, 1)) s)."
    }
    catch {
        $script:noRealm = $_.Exception.Message
        Write-Warning "Kerberos tests skipped: $noRealm"
    }
    # bob signs in with a password (-Credential bob@REALM), not with a ticket of the logon.
    $script:bobPassword = 'B0b!Kerberos-pw'
    if (-not $noRealm) {
        $null = Invoke-KerberosTool $realm kadmin.local @('-q', "addprinc -pw $bobPassword bob")
        [MockMail.MockServer]::UseKerberos($realm.ServiceKeytab, $realm.Environment.KRB5_CONFIG)
        $script:mock = New-MockServer
    }

    function Invoke-AsLogon {
        # Runs $Body in a child pwsh -NonInteractive with the module imported, as a user signed in
        # to the realm would (KRB5_CONFIG, KRB5CCNAME; -CredentialCache overrides the cache). The
        # body fills $outcome; returns it with Seconds and Text (every line the child printed).
        param([string] $Body, [string] $CredentialCache = $realm.Environment.KRB5CCNAME)
        $script = Join-Path $TestDrive "logon-$([guid]::NewGuid().ToString('n')).ps1"
        Set-Content -LiteralPath $script -Value @"
Import-Module '$modulePath'
`$outcome = [ordered]@{}
$Body
'OUTCOME:' + (`$outcome | ConvertTo-Json -Depth 4 -Compress)
"@
        $start = [Diagnostics.ProcessStartInfo]::new((Join-Path $PSHOME 'pwsh'))
        foreach ($argument in '-NoProfile', '-NonInteractive', '-File', $script) { $start.ArgumentList.Add($argument) }
        $start.UseShellExecute = $false
        $start.RedirectStandardOutput = $true
        $start.RedirectStandardError = $true
        $start.Environment['KRB5_CONFIG'] = $realm.Environment.KRB5_CONFIG
        $start.Environment['KRB5CCNAME'] = $CredentialCache
        $watch = [Diagnostics.Stopwatch]::StartNew()
        $process = [Diagnostics.Process]::Start($start)
        $stdout = $process.StandardOutput.ReadToEndAsync()
        $stderr = $process.StandardError.ReadToEndAsync()
        if (-not $process.WaitForExit(120000)) { $process.Kill($true); throw 'The child pwsh did not end within 120 s.' }
        $text = $stdout.Result + $stderr.Result
        $line = ($stdout.Result -split "`n" | Where-Object { $_ -like 'OUTCOME:*' } | Select-Object -Last 1)
        if (-not $line) { throw "The child printed no outcome:`n$text" }
        $outcome = $line.Substring(8) | ConvertFrom-Json
        $outcome | Add-Member Seconds $watch.Elapsed.TotalSeconds -PassThru | Add-Member Text $text -PassThru
    }

    function Assert-NoKerberosToken {
        # No base64 run long enough to be a ticket or token in the child's output or the
        # transcript; nor any line the client sent in the exchange (-Sent: what the mock recorded).
        param([string] $Text, [string[]] $Sent)
        $Text | Should -Not -Match '[A-Za-z0-9+/]{40,}'
        if (-not $PSBoundParameters.ContainsKey('Sent')) { return }
        @($Sent | Where-Object { $_ -match '^[A-Za-z0-9+/=]{16,}$' }).Count | Should -BeGreaterThan 0
        foreach ($token in $Sent | Where-Object { $_ -match '^[A-Za-z0-9+/=]{16,}$' }) { $Text | Should -Not -BeLike "*$token*" }
    }

    function Skip-WithoutRealm {
        if ($noRealm) { Set-ItResult -Skipped -Because $noRealm }
        [bool]$noRealm
    }
}

AfterAll {
    if ($mock) { $mock.Dispose() }
    Remove-KerberosRealm $realm
}

Describe 'The test realm' -Tag 'Kerberos' {
    It 'gives the client a ticket in a private cache, from files outside /etc' {
        if (Skip-WithoutRealm) { return }
        $realm.Environment.KRB5_CONFIG | Should -BeLike "$($realm.Directory)*"
        $realm.Environment.KRB5_KDC_PROFILE | Should -BeLike "$($realm.Directory)*"
        $list = Invoke-KerberosTool $realm klist @()
        $list | Should -Match ([regex]::Escape("Default principal: $($realm.ClientPrincipal)"))
        $list | Should -Match 'krbtgt/MAILTEST.INVALID@MAILTEST.INVALID'
        (Invoke-KerberosTool $realm klist @('-k', $realm.ServiceKeytab)) | Should -Match 'smtp/localhost@MAILTEST.INVALID[\s\S]*pop/localhost@MAILTEST.INVALID'
    }

    It 'is gone after the teardown: KDC stopped, folder deleted' {
        if (Skip-WithoutRealm) { return }
        $other = New-KerberosRealm
        $other.Process.HasExited | Should -BeFalse
        Remove-KerberosRealm $other
        $other.Process.HasExited | Should -BeTrue
        Test-Path $other.Directory | Should -BeFalse
    }
}

Describe '-UseDefaultCredentials signs in as the current logon (Kerberos, SASL GSSAPI)' -Tag 'Kerberos' {
    BeforeEach {
        if (-not $noRealm) {
            $mock.Reset()
            $mock.Smtp.AuthMechanisms = @('GSSAPI', 'PLAIN')
            $mock.Pop3.SaslMechanisms = @('GSSAPI', 'PLAIN')
        }
        $script:transcript = Join-Path $TestDrive "transcript-$([guid]::NewGuid().ToString('n')).log"
    }

    It 'sends over plain text with the ticket: the mock verified the client principal, the result names GSSAPI' {
        if (Skip-WithoutRealm) { return }
        $outcome = Invoke-AsLogon @"
`$r = Send-SmtpMessage -SmtpServer localhost -Port $($mock.SmtpPort) -TlsMode None -UseDefaultCredentials -TimeoutSec 10 ``
    -From ops@example.com -To a@example.com -Subject 'by ticket' -Body x -TranscriptPath '$transcript' -Verbose -Debug 4>&1 5>&1 | ForEach-Object { `$_; "`$_" | Out-Host }
`$outcome.Mechanism = (`$r | Where-Object { `$_ -isnot [Management.Automation.InformationalRecord] }).AuthenticationMechanism
`$outcome.Errors = @(`$Error | ForEach-Object { "`$_" })
"@
        $outcome.Errors | Should -BeNullOrEmpty
        $outcome.Mechanism | Should -Be 'GSSAPI'
        $mock.Messages.Count | Should -Be 1
        $session = $mock.SmtpSessions[0]
        $session.AuthMechanism | Should -Be 'GSSAPI'
        $session.AuthUser | Should -Be $realm.ClientPrincipal
        $session.Tls | Should -BeFalse
        $outcome.Text | Should -Match 'current logon'
        $log = Get-Content -LiteralPath $transcript -Raw
        $log | Should -Match 'C: AUTH GSSAPI'
        Assert-NoKerberosToken -Text ($outcome.Text + $log) -Sent $session.Commands
    }

    It 'reads and deletes a POP3 mailbox with the ticket (Get-Pop3Message, Remove-Pop3Message)' {
        if (Skip-WithoutRealm) { return }
        $uid = $mock.AddMessage($realm.ClientPrincipal, "From: a@example.com`r`nTo: b@example.com`r`nSubject: kerberos mail`r`n`r`nbody`r`n")
        $outcome = Invoke-AsLogon @"
`$pop = @{ Pop3Server = 'localhost'; Port = $($mock.Pop3Port); TlsMode = 'None'; UseDefaultCredentials = `$true; TimeoutSec = 10; TranscriptPath = '$transcript' }
`$messages = @(Get-Pop3Message @pop -Verbose 4>&1 | ForEach-Object { if (`$_.Subject) { `$_ } else { "`$_" | Out-Host } })
`$outcome.Subjects = @(`$messages.Subject)
`$outcome.Mechanisms = @(`$messages.AuthenticationMechanism)
`$deleted = @(Remove-Pop3Message @pop -Uid '$uid' -PassThru -Confirm:`$false)
`$outcome.Deleted = @(`$deleted.Uid)
`$outcome.DeletedMechanisms = @(`$deleted.AuthenticationMechanism)
`$outcome.Errors = @(`$Error | ForEach-Object { "`$_" })
"@
        $outcome.Errors | Should -BeNullOrEmpty
        $outcome.Subjects | Should -Be @('kerberos mail')
        $outcome.Mechanisms | Should -Be @('GSSAPI')
        $outcome.Deleted | Should -Be @($uid)
        $outcome.DeletedMechanisms | Should -Be @('GSSAPI')
        $mock.GetMailbox($realm.ClientPrincipal).Count | Should -Be 0
        @($mock.Pop3Sessions | ForEach-Object AuthMechanism) | Should -Be @('GSSAPI', 'GSSAPI')
        @($mock.Pop3Sessions | ForEach-Object User) | Should -Be @($realm.ClientPrincipal, $realm.ClientPrincipal)
        $outcome.Text | Should -Match "Logged in as 'the current logon' \(GSSAPI\)"
        Assert-NoKerberosToken -Text ($outcome.Text + (Get-Content -LiteralPath $transcript -Raw)) -Sent ($mock.Pop3Sessions | ForEach-Object Commands)
    }

    It 'fails without a ticket, naming the missing logon, with no prompt and within -TimeoutSec (<Command>)' -ForEach @(
        @{ Command = 'Send-SmtpMessage'; Line = 'Send-SmtpMessage -SmtpServer localhost -Port {0} -TlsMode None -UseDefaultCredentials -TimeoutSec 5 -From ops@example.com -To a@example.com -Subject s'; Port = 'SmtpPort' }
        @{ Command = 'Get-Pop3Message'; Line = 'Get-Pop3Message -Pop3Server localhost -Port {0} -TlsMode None -UseDefaultCredentials -TimeoutSec 5'; Port = 'Pop3Port' }
    ) {
        if (Skip-WithoutRealm) { return }
        $empty = 'FILE:' + (Join-Path $TestDrive 'no-such-ccache')
        $outcome = Invoke-AsLogon -CredentialCache $empty @"
$($Line -f $mock.$Port) -ErrorAction SilentlyContinue -ErrorVariable ev
`$outcome.Id = `$ev[0].FullyQualifiedErrorId
`$outcome.Category = "`$(`$ev[0].CategoryInfo.Category)"
`$outcome.Message = `$ev[0].Exception.Message
"@
        $outcome.Id | Should -BeLike 'NoKerberosLogon,*'
        $outcome.Category | Should -Be 'AuthenticationError'
        $outcome.Message | Should -Match 'current logon has no Kerberos ticket'
        $outcome.Message | Should -Match 'kinit'
        # The child's own start (pwsh, module import) is part of the time; 5 s is the timeout.
        $outcome.Seconds | Should -BeLessThan 30
        $mock.Messages.Count | Should -Be 0
    }

    It 'fails clearly for a service principal the realm does not have (the server by its IP address)' {
        if (Skip-WithoutRealm) { return }
        $outcome = Invoke-AsLogon @"
Send-SmtpMessage -SmtpServer 127.0.0.1 -Port $($mock.SmtpPort) -TlsMode None -UseDefaultCredentials -TimeoutSec 5 -From ops@example.com -To a@example.com -Subject s -ErrorAction SilentlyContinue -ErrorVariable ev
`$outcome.Id = `$ev[0].FullyQualifiedErrorId
`$outcome.Message = `$ev[0].Exception.Message
`$outcome.Target = "`$(`$ev[0].TargetObject)"
"@
        $outcome.Id | Should -BeLike 'KerberosServicePrincipalUnknown,*'
        $outcome.Message | Should -Match 'smtp/127\.0\.0\.1'
        $outcome.Target | Should -Be 'smtp/127.0.0.1'
        $mock.Messages.Count | Should -Be 0
    }

    It 'fails clearly when the server offers no GSSAPI' {
        if (Skip-WithoutRealm) { return }
        $mock.Smtp.AuthMechanisms = @('PLAIN')
        $outcome = Invoke-AsLogon @"
Send-SmtpMessage -SmtpServer localhost -Port $($mock.SmtpPort) -TlsMode None -UseDefaultCredentials -TimeoutSec 5 -From ops@example.com -To a@example.com -Subject s -ErrorAction SilentlyContinue -ErrorVariable ev
`$outcome.Id = `$ev[0].FullyQualifiedErrorId
`$outcome.Message = `$ev[0].Exception.Message
"@
        $outcome.Id | Should -BeLike 'AuthenticationNotSupported,*'
        $outcome.Message | Should -Match 'does not offer Kerberos \(SASL GSSAPI\).*offered: PLAIN'
    }

    Context 'Test-SmtpConnection and Test-Pop3Connection: the Auth stage as the current logon' {
        BeforeDiscovery {
            # Each probe: its command line (server, port name in the mock, TLS), what the mock records.
            # SMTP goes over plain text and POP3 over STLS with the mock's self-signed certificate
            # unchecked: Kerberos proves the server, so neither stops the sign-in.
            $probes = @(
                @{ Command = 'Test-SmtpConnection'; Line = 'Test-SmtpConnection -SmtpServer {0} -Port {1} -TlsMode None -UseDefaultCredentials -TimeoutSec 5'
                    Port = 'SmtpPort'; Stages = @('Connect', 'Banner', 'Ehlo', 'Auth'); Sessions = 'SmtpSessions' }
                @{ Command = 'Test-Pop3Connection'; Line = 'Test-Pop3Connection -Pop3Server {0} -Port {1} -TlsMode StartTls -UseDefaultCredentials -TimeoutSec 5'
                    Port = 'Pop3Port'; Stages = @('Connect', 'Greeting', 'Capa', 'Tls', 'Auth', 'Stat'); Sessions = 'Pop3Sessions' }
            )
        }

        BeforeAll {
            function Invoke-Probe {
                # Runs the probe line as the logon would, with -Verbose and -Debug and a transcript;
                # returns the child's outcome: the result's fields and the errors.
                param([string] $Line, [int] $Port, [string] $Server = 'localhost', [string] $CredentialCache = $realm.Environment.KRB5CCNAME)
                Invoke-AsLogon -CredentialCache $CredentialCache @"
`$records = @($($Line -f $Server, $Port) -TranscriptPath '$transcript' -Verbose -Debug 4>&1 5>&1)
`$records | Where-Object { `$_ -is [Management.Automation.InformationalRecord] } | ForEach-Object { "`$_" | Out-Host }
`$r = `$records | Where-Object { `$_ -isnot [Management.Automation.InformationalRecord] }
foreach (`$name in 'Success', 'FailedStage', 'Error', 'Hint', 'AuthMechanism', 'AuthReply', 'Authenticated', 'MessageCount') { `$outcome[`$name] = "`$(`$r.`$name)" }
`$outcome.Stages = @(`$r.Stages | ForEach-Object { "`$_" })
`$outcome.Errors = @(`$Error | ForEach-Object { "`$_" })
"@
            }
        }

        It '<Command> signs in with the ticket: AuthMechanism GSSAPI, the mock verified the client principal, no secret in any stream' -ForEach $probes {
            if (Skip-WithoutRealm) { return }
            $null = $mock.AddMessage($realm.ClientPrincipal, "From: a@example.com`r`nTo: b@example.com`r`nSubject: s`r`n`r`nbody`r`n")
            $outcome = Invoke-Probe $Line $mock.$Port

            $outcome.Errors | Should -BeNullOrEmpty
            $outcome.Success | Should -Be 'True' -Because "$($outcome.Error) $($outcome.Hint)"
            $outcome.Stages | Should -Be $Stages
            $outcome.AuthMechanism | Should -Be 'GSSAPI'
            $outcome.Authenticated | Should -Be 'True'
            $session = $mock.$Sessions[0]
            $session.AuthMechanism | Should -Be 'GSSAPI'
            if ($Command -eq 'Test-SmtpConnection') {
                $session.AuthUser | Should -Be $realm.ClientPrincipal
                $outcome.AuthReply | Should -Match '^235 '
                $mock.Messages.Count | Should -Be 0 -Because 'a probe sends nothing'
            }
            else {
                $session.User | Should -Be $realm.ClientPrincipal
                $outcome.MessageCount | Should -Be '1'
                $mock.GetMailbox($realm.ClientPrincipal).Count | Should -Be 1 -Because 'a probe marks nothing'
            }
            $log = Get-Content -LiteralPath $transcript -Raw
            $log | Should -Match 'C: AUTH GSSAPI'
            Assert-NoKerberosToken -Text ($outcome.Text + $log) -Sent $session.Commands
        }

        It '<Command> without a ticket: a failed Auth stage whose hint names the missing ticket (klist, kinit), not an error' -ForEach $probes {
            if (Skip-WithoutRealm) { return }
            $empty = 'FILE:' + (Join-Path $TestDrive 'no-such-ccache')
            $outcome = Invoke-Probe $Line $mock.$Port -CredentialCache $empty

            $outcome.Errors | Should -BeNullOrEmpty -Because 'a failed sign-in is a result, not an error'
            $outcome.Success | Should -Be 'False'
            $outcome.FailedStage | Should -Be 'Auth'
            $outcome.AuthMechanism | Should -Be 'GSSAPI'
            $outcome.Authenticated | Should -Be 'False'
            $outcome.Error | Should -Match 'current logon has no Kerberos ticket'
            $outcome.Hint | Should -Match 'klist'
            $outcome.Hint | Should -Match 'kinit'
            $outcome.Hint | Should -Match 'logon session'
            $outcome.Seconds | Should -BeLessThan 30
            Assert-NoKerberosToken -Text ($outcome.Text + (Get-Content -LiteralPath $transcript -Raw))
        }

        It '<Command> against a server that offers no GSSAPI: a failed Auth stage that says so' -ForEach $probes {
            if (Skip-WithoutRealm) { return }
            if ($Command -eq 'Test-SmtpConnection') { $mock.Smtp.AuthMechanisms = @('PLAIN') } else { $mock.Pop3.SaslMechanisms = @('PLAIN') }
            $outcome = Invoke-Probe $Line $mock.$Port

            $outcome.Errors | Should -BeNullOrEmpty
            $outcome.FailedStage | Should -Be 'Auth'
            $outcome.Error | Should -Match 'does not offer Kerberos \(SASL GSSAPI\)'
            $outcome.Hint | Should -Match 'does not offer AUTH GSSAPI'
            $outcome.AuthMechanism | Should -BeNullOrEmpty
            @($mock.$Sessions[0].Commands | Where-Object { $_ -like 'AUTH*' }).Count | Should -Be 0
        }

        It '<Command> by an IP address the realm has no service principal for: a failed Auth stage that names the principal' -ForEach $probes {
            if (Skip-WithoutRealm) { return }
            $outcome = Invoke-Probe $Line $mock.$Port -Server '127.0.0.1'

            $outcome.Errors | Should -BeNullOrEmpty
            $outcome.FailedStage | Should -Be 'Auth'
            $outcome.Error | Should -Match '(smtp|pop)/127\.0\.0\.1'
            $outcome.Hint | Should -Match 'service principal'
        }
    }
}

Describe '-Credential user@REALM with -AuthenticationMechanism GSSAPI signs in with Kerberos (the ticket from the password)' -Tag 'Kerberos' {
    BeforeEach {
        if (-not $noRealm) {
            $mock.Reset()
            $mock.Smtp.AuthMechanisms = @('PLAIN', 'GSSAPI')
            $mock.Pop3.SaslMechanisms = @('PLAIN', 'GSSAPI')
        }
        $script:transcript = Join-Path $TestDrive "transcript-$([guid]::NewGuid().ToString('n')).log"
        # No ticket in the cache: whatever signs in, it is not the logon.
        $script:noTicket = 'FILE:' + (Join-Path $TestDrive "no-ticket-$([guid]::NewGuid().ToString('n'))")
    }

    It 'sends and reads over plain text without -AllowUnencryptedAuthentication (Kerberos proves the server); the mock verified bob' {
        if (Skip-WithoutRealm) { return }
        $uid = $mock.AddMessage("bob@$($realm.Name)", "From: a@example.com`r`nTo: bob@example.com`r`nSubject: by password`r`n`r`nbody`r`n")
        $outcome = Invoke-AsLogon -CredentialCache $noTicket @"
`$bob = [pscredential]::new('bob@$($realm.Name)', (ConvertTo-SecureString '$bobPassword' -AsPlainText -Force))
`$r = Send-SmtpMessage -SmtpServer localhost -Port $($mock.SmtpPort) -TlsMode None -Credential `$bob -AuthenticationMechanism GSSAPI -TimeoutSec 10 ``
    -From ops@example.com -To a@example.com -Subject 'by password' -Body x -TranscriptPath '$transcript' -Verbose 4>&1 | ForEach-Object { if (`$_.AuthenticationMechanism) { `$_ } else { "`$_" | Out-Host } }
`$outcome.Mechanism = `$r.AuthenticationMechanism
`$pop = @{ Pop3Server = 'localhost'; Port = $($mock.Pop3Port); TlsMode = 'None'; Credential = `$bob; AuthenticationMechanism = 'GSSAPI'; TimeoutSec = 10; TranscriptPath = '$transcript' }
`$outcome.Subjects = @(Get-Pop3Message @pop -Verbose 4>&1 | ForEach-Object { if (`$_.Subject) { `$_.Subject } else { "`$_" | Out-Host } })
`$outcome.Deleted = @(Remove-Pop3Message @pop -Uid '$uid' -PassThru -Confirm:`$false | ForEach-Object Uid)
`$outcome.Errors = @(`$Error | ForEach-Object { "`$_" })
"@
        $outcome.Errors | Should -BeNullOrEmpty
        $outcome.Mechanism | Should -Be 'GSSAPI'
        $mock.SmtpSessions[0].AuthMechanism | Should -Be 'GSSAPI'
        $mock.SmtpSessions[0].AuthUser | Should -Be "bob@$($realm.Name)"
        $mock.SmtpSessions[0].Tls | Should -BeFalse
        $outcome.Subjects | Should -Be @('by password')
        $outcome.Deleted | Should -Be @($uid)
        @($mock.Pop3Sessions | ForEach-Object AuthMechanism) | Should -Be @('GSSAPI', 'GSSAPI')
        $outcome.Text | Should -Match "Logged in as 'bob@$([regex]::Escape($realm.Name))' \(GSSAPI\)"
        $log = Get-Content -LiteralPath $transcript -Raw
        $log | Should -Match 'C: AUTH GSSAPI'
        $text = $outcome.Text + $log
        Assert-NoSecret -Text $text -Secret $bobPassword
        Assert-NoKerberosToken -Text $text -Sent (@($mock.SmtpSessions[0].Commands) + @($mock.Pop3Sessions | ForEach-Object Commands))
    }

    It 'without -AuthenticationMechanism GSSAPI, a user@REALM name signs in with the password mechanism (the name may be a mail address)' {
        if (Skip-WithoutRealm) { return }
        $mock.Users["bob@$($realm.Name)"] = $bobPassword
        $outcome = Invoke-AsLogon -CredentialCache $noTicket @"
`$bob = [pscredential]::new('bob@$($realm.Name)', (ConvertTo-SecureString '$bobPassword' -AsPlainText -Force))
`$outcome.Mechanism = (Send-SmtpMessage -SmtpServer localhost -Port $($mock.SmtpPort) -SkipCertificateCheck -Credential `$bob -TimeoutSec 10 -From ops@example.com -To a@example.com -Subject s).AuthenticationMechanism
"@
        $mock.Users.Remove("bob@$($realm.Name)")
        $outcome.Mechanism | Should -Be 'PLAIN'
    }

    It 'a wrong password is KerberosCredentialsRejected, naming the user and the service, with nothing of it in the output' {
        if (Skip-WithoutRealm) { return }
        $outcome = Invoke-AsLogon -CredentialCache $noTicket @"
`$bob = [pscredential]::new('bob@$($realm.Name)', (ConvertTo-SecureString 'not-bobs-password' -AsPlainText -Force))
Send-SmtpMessage -SmtpServer localhost -Port $($mock.SmtpPort) -TlsMode None -Credential `$bob -AuthenticationMechanism GSSAPI -TimeoutSec 10 -From ops@example.com -To a@example.com -Subject s -ErrorAction SilentlyContinue -ErrorVariable ev
`$outcome.Id = `$ev[0].FullyQualifiedErrorId
`$outcome.Message = `$ev[0].Exception.Message
"@
        $outcome.Id | Should -BeLike 'KerberosCredentialsRejected,*'
        $outcome.Message | Should -Match "bob@$([regex]::Escape($realm.Name)).*smtp/localhost"
        Assert-NoSecret -Text $outcome.Text -Secret 'not-bobs-password'
        $mock.Messages.Count | Should -Be 0
    }
}

Describe '-UseDefaultCredentials conflicts with the other sign-ins' -Tag 'Kerberos' {
    It '<Command> -UseDefaultCredentials <Other> is a parameter error before any connection' -ForEach @(
        foreach ($command in 'Send-SmtpMessage', 'Get-Pop3Message', 'Remove-Pop3Message', 'Test-SmtpConnection', 'Test-Pop3Connection') {
            @{ Command = $command; Other = '-Credential' }
            @{ Command = $command; Other = '-AccessToken' }
        }
    ) {
        $server = New-MockServer
        try {
            $secret = ConvertTo-SecureString 'Secr3t!Pa55' -AsPlainText -Force
            $common = @{ UseDefaultCredentials = $true; Port = $server.SmtpPort; TimeoutSec = 5 }
            switch ($Other) {
                '-Credential' { $common.Credential = [pscredential]::new('alice', $secret) }
                '-AccessToken' { $common.AccessToken = $secret; $common.UserName = 'alice' }
            }
            $call = switch ($Command) {
                'Send-SmtpMessage' { { Send-SmtpMessage @common -SmtpServer $server.Host -From ops@example.com -To a@example.com -Subject s } }
                'Get-Pop3Message' { { Get-Pop3Message @common -Pop3Server $server.Host } }
                'Remove-Pop3Message' { { Remove-Pop3Message @common -Pop3Server $server.Host -Uid u1 -Confirm:$false } }
                'Test-SmtpConnection' { { Test-SmtpConnection @common -SmtpServer $server.Host } }
                'Test-Pop3Connection' { { Test-Pop3Connection @common -Pop3Server $server.Host } }
            }
            $call | Should -Throw -ErrorId 'AmbiguousParameterSet,*'
            $server.SmtpConnectionCount + $server.Pop3ConnectionCount | Should -Be 0
        }
        finally { $server.Dispose() }
    }
}

Describe '-UseDefaultCredentials against a real Dovecot (dovecot-gssapi)' -Tag 'Kerberos', 'Dovecot' {
    BeforeAll {
        $script:noDovecot = $noRealm
        if (-not $noDovecot) {
            try { $script:dovecot = Start-DovecotGssapi -Realm $realm }
            catch {
                $script:noDovecot = $_.Exception.Message
                Write-Warning "Dovecot tests skipped: $noDovecot"
            }
        }
    }

    AfterAll {
        Stop-DovecotGssapi $dovecot
    }

    It 'reads and deletes the mailbox: Dovecot verified the ticket (method=GSSAPI)' {
        if ($noDovecot) { Set-ItResult -Skipped -Because $noDovecot; return }
        Add-DovecotMessage $dovecot 'alice' "From: a@example.com`r`nTo: alice@example.com`r`nSubject: from dovecot`r`nMessage-ID: <kerberos-1@example.com>`r`n`r`nbody`r`n"
        $transcript = Join-Path $TestDrive 'dovecot.log'
        $outcome = Invoke-AsLogon @"
`$pop = @{ Pop3Server = 'localhost'; Port = $($dovecot.Port); TlsMode = 'None'; UseDefaultCredentials = `$true; TimeoutSec = 10; TranscriptPath = '$transcript' }
`$messages = @(Get-Pop3Message @pop -Verbose 4>&1 | ForEach-Object { if (`$_.Subject) { `$_ } else { "`$_" | Out-Host } })
`$outcome.Subjects = @(`$messages.Subject)
`$outcome.Mechanisms = @(`$messages.AuthenticationMechanism)
`$outcome.Deleted = @(`$messages | Remove-Pop3Message @pop -PassThru -Confirm:`$false | ForEach-Object { "`$(`$_.Uid) `$(`$_.AuthenticationMechanism)" })
`$outcome.Left = @(Get-Pop3Message @pop).Count
`$outcome.Errors = @(`$Error | ForEach-Object { "`$_" })
"@
        $outcome.Errors | Should -BeNullOrEmpty
        $outcome.Subjects | Should -Be @('from dovecot')
        $outcome.Mechanisms | Should -Be @('GSSAPI')
        $outcome.Deleted.Count | Should -Be 1
        $outcome.Deleted[0] | Should -BeLike '* GSSAPI'
        $outcome.Left | Should -Be 0
        $outcome.Text | Should -Match "Logged in as 'the current logon' \(GSSAPI\)"
        @(Select-String -LiteralPath $dovecot.Log -Pattern 'Login: user=<alice>, method=GSSAPI').Count | Should -Be 3
        $log = Get-Content -LiteralPath $transcript -Raw
        $log | Should -Match 'C: AUTH GSSAPI'
        Assert-NoKerberosToken -Text ($outcome.Text + $log)
    }

    It 'signs bob in with -Credential bob@REALM and -AuthenticationMechanism GSSAPI, no ticket in the cache (Dovecot: method=GSSAPI)' {
        if ($noDovecot) { Set-ItResult -Skipped -Because $noDovecot; return }
        Add-DovecotMessage $dovecot 'bob' "From: a@example.com`r`nTo: bob@example.com`r`nSubject: bob by password`r`nMessage-ID: <kerberos-2@example.com>`r`n`r`nbody`r`n"
        $transcript = Join-Path $TestDrive 'dovecot-bob.log'
        $outcome = Invoke-AsLogon -CredentialCache ('FILE:' + (Join-Path $TestDrive 'no-ticket-dovecot')) @"
`$bob = [pscredential]::new('bob@$($realm.Name)', (ConvertTo-SecureString '$bobPassword' -AsPlainText -Force))
`$pop = @{ Pop3Server = 'localhost'; Port = $($dovecot.Port); TlsMode = 'None'; Credential = `$bob; AuthenticationMechanism = 'GSSAPI'; TimeoutSec = 10; TranscriptPath = '$transcript' }
`$outcome.Subjects = @(Get-Pop3Message @pop | ForEach-Object Subject)
`$outcome.Errors = @(`$Error | ForEach-Object { "`$_" })
"@
        $outcome.Errors | Should -BeNullOrEmpty
        $outcome.Subjects | Should -Be @('bob by password')
        @(Select-String -LiteralPath $dovecot.Log -Pattern 'Login: user=<bob>, method=GSSAPI').Count | Should -Be 1
        $text = $outcome.Text + (Get-Content -LiteralPath $transcript -Raw)
        Assert-NoSecret -Text $text -Secret $bobPassword
        Assert-NoKerberosToken -Text $text
    }
}

Describe '-UseDefaultCredentials against a real Postfix (SASL through Dovecot, dovecot-gssapi)' -Tag 'Kerberos', 'Postfix' {
    BeforeAll {
        . (Join-Path $PSScriptRoot 'TestTools/Postfix.ps1')
        $script:noPostfix = $noRealm
        if (-not $noPostfix) {
            try {
                # First: Dovecot gives its socket to the user the package adds.
                $why = Install-Postfix
                if ($why) { throw "No Postfix: $why." }
                # Dovecot verifies the tickets Postfix's smtpd hands it (acceptor smtp/localhost).
                $script:saslDovecot = Start-DovecotGssapi -Realm $realm -SaslClientUser postfix
                $script:postfix = Start-Postfix -Directory $saslDovecot.Directory -Port (Get-FreeTcpPort) -SaslPath $saslDovecot.AuthSocket -MailRoot (Join-Path $saslDovecot.Directory 'postfix-mail') -MailUser nobody
            }
            catch {
                $script:noPostfix = $_.Exception.Message
                Write-Warning "Postfix tests skipped: $noPostfix"
            }
        }

        function Get-Delivered {
            # The messages virtual(8) has put into the Maildir so far.
            @(Get-ChildItem -LiteralPath (Join-Path $postfix.Maildir 'new') -File -ErrorAction SilentlyContinue)
        }
    }

    AfterAll {
        Stop-Postfix $postfix
        Stop-DovecotGssapi $saslDovecot
    }

    It 'refuses mail without a sign-in, so a delivery proves one' {
        if ($noPostfix) { Set-ItResult -Skipped -Because $noPostfix; return }
        $client = [Net.Sockets.TcpClient]::new()
        try {
            $client.Connect([Net.IPAddress]::Loopback, $postfix.Port)
            $client.ReceiveTimeout = 10000
            $reader = [IO.StreamReader]::new($client.GetStream(), [Text.Encoding]::ASCII)
            $writer = [IO.StreamWriter]::new($client.GetStream(), [Text.Encoding]::ASCII)
            $writer.NewLine = "`r`n"; $writer.AutoFlush = $true
            $readReply = { do { $line = $reader.ReadLine() } while ($line -match '^\d{3}-'); $line }
            & $readReply | Should -Match '^220 '
            $writer.WriteLine('EHLO client.example')
            & $readReply | Should -Match '^250 '
            $writer.WriteLine('MAIL FROM:<ops@example.com>')
            & $readReply | Should -Match '^250 '
            $writer.WriteLine('RCPT TO:<sink@example.com>')
            & $readReply | Should -Match '^554 5\.7\.1 .*Access denied'
            $writer.WriteLine('QUIT')
        }
        finally { $client.Dispose() }
    }

    It 'delivers with the ticket: Postfix logs sasl_method=GSSAPI for the client, the result names GSSAPI' {
        if ($noPostfix) { Set-ItResult -Skipped -Because $noPostfix; return }
        $before = (Get-Delivered).Count
        $transcript = Join-Path $TestDrive 'postfix.log'
        $outcome = Invoke-AsLogon @"
`$r = Send-SmtpMessage -SmtpServer localhost -Port $($postfix.Port) -TlsMode None -UseDefaultCredentials -TimeoutSec 10 ``
    -From ops@example.com -To sink@example.com -Subject 'through postfix' -Body x -TranscriptPath '$transcript' -Verbose 4>&1 | ForEach-Object { if (`$_ -is [Management.Automation.InformationalRecord]) { "`$_" | Out-Host } else { `$_ } }
`$outcome.Mechanism = `$r.AuthenticationMechanism
`$outcome.Response = `$r.ServerResponse
`$outcome.Errors = @(`$Error | ForEach-Object { "`$_" })
"@
        $outcome.Errors | Should -BeNullOrEmpty
        $outcome.Mechanism | Should -Be 'GSSAPI'
        $outcome.Response | Should -Match '^250 .*queued as (?<id>[0-9A-F]+)'
        $queueId = $Matches.id
        # Delivery runs after the reply; a bounded wait for it.
        for ($i = 0; $i -lt 100 -and (Get-Delivered).Count -eq $before; $i++) { Start-Sleep -Milliseconds 100 }
        $delivered = Get-Delivered
        $delivered.Count | Should -Be ($before + 1)
        Get-Content -LiteralPath ($delivered | Sort-Object LastWriteTimeUtc | Select-Object -Last 1).FullName -Raw | Should -Match 'Subject: through postfix'
        $user = $realm.ClientPrincipal.Split('@')[0]
        @(Select-String -LiteralPath $postfix.Log -Pattern "$($queueId): client=localhost\[127\.0\.0\.1\], sasl_method=GSSAPI, sasl_username=$user$").Count | Should -Be 1
        $outcome.Text | Should -Match "Authenticated as 'the current logon' \(GSSAPI\)"
        $log = Get-Content -LiteralPath $transcript -Raw
        $log | Should -Match 'S: 250-AUTH GSSAPI'
        $log | Should -Match 'C: AUTH GSSAPI'
        $log | Should -Match 'S: 235 '
        Assert-NoKerberosToken -Text ($outcome.Text + $log)
    }

    It 'fails without a ticket, naming the missing logon; nothing is delivered' {
        if ($noPostfix) { Set-ItResult -Skipped -Because $noPostfix; return }
        $before = (Get-Delivered).Count
        $empty = 'FILE:' + (Join-Path $TestDrive 'no-such-ccache')
        $outcome = Invoke-AsLogon -CredentialCache $empty @"
Send-SmtpMessage -SmtpServer localhost -Port $($postfix.Port) -TlsMode None -UseDefaultCredentials -TimeoutSec 5 -From ops@example.com -To sink@example.com -Subject s -ErrorAction SilentlyContinue -ErrorVariable ev
`$outcome.Id = `$ev[0].FullyQualifiedErrorId
`$outcome.Message = `$ev[0].Exception.Message
"@
        $outcome.Id | Should -BeLike 'NoKerberosLogon,*'
        $outcome.Message | Should -Match 'current logon has no Kerberos ticket'
        $outcome.Seconds | Should -BeLessThan 30
        Start-Sleep -Milliseconds 500
        (Get-Delivered).Count | Should -Be $before
    }
}
