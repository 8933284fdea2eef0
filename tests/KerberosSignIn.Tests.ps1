# Signing in as the current logon (-UseDefaultCredentials, Kerberos over SASL GSSAPI) against a
# throwaway MIT realm (tests/TestTools/Kerberos.ps1): the client runs as a user would, in a child
# pwsh whose KRB5_CONFIG and KRB5CCNAME name the realm and the ticket kinit put there; the mock
# verifies the ticket with the realm's service keytab. Where the Kerberos packages cannot be
# installed, every test here is skipped with the reason.

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
`$outcome.Subjects = @(Get-Pop3Message @pop -Verbose 4>&1 | ForEach-Object { if (`$_.Subject) { `$_.Subject } else { "`$_" | Out-Host } })
`$outcome.Deleted = @(Remove-Pop3Message @pop -Uid '$uid' -PassThru -Confirm:`$false | ForEach-Object Uid)
`$outcome.Errors = @(`$Error | ForEach-Object { "`$_" })
"@
        $outcome.Errors | Should -BeNullOrEmpty
        $outcome.Subjects | Should -Be @('kerberos mail')
        $outcome.Deleted | Should -Be @($uid)
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
        foreach ($command in 'Send-SmtpMessage', 'Get-Pop3Message', 'Remove-Pop3Message') {
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
`$outcome.Deleted = @(`$messages | Remove-Pop3Message @pop -PassThru -Confirm:`$false | ForEach-Object Uid)
`$outcome.Left = @(Get-Pop3Message @pop).Count
`$outcome.Errors = @(`$Error | ForEach-Object { "`$_" })
"@
        $outcome.Errors | Should -BeNullOrEmpty
        $outcome.Subjects | Should -Be @('from dovecot')
        $outcome.Deleted.Count | Should -Be 1
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
