Describe 'Remove-Pop3Message' {
    BeforeAll {
        . (Join-Path $PSScriptRoot 'common.ps1')
        $mock = New-MockServer
        $alice = [pscredential]::new('alice', (ConvertTo-SecureString 'Secr3t!Pa55' -AsPlainText -Force))
        $fqid = ',MailProtocols.Commands.RemovePop3MessageCommand'

        function Get-Pop { New-Pop3Parameters $mock $alice }

        function Get-Uids { @($mock.GetMailbox('alice').Uid) }
    }

    AfterAll {
        $mock.Dispose()
    }

    BeforeEach {
        $mock.Reset()
        $pop = Get-Pop
        $uids = $mock.AddTestMessages('alice', 4)
        $watchFile = Join-Path $TestDrive "secrets-$([guid]::NewGuid().ToString('n')).log"
        $PSDefaultParameterValues = Enable-SecretWatch $watchFile
    }

    AfterEach {
        Assert-NoSecretLeft -Path $watchFile -Secret $mock.Users['alice'], "`0alice`0$($mock.Users['alice'])"
    }

    It 'deletes by -Uid in one session with one QUIT, and -PassThru returns what was deleted' {
        $removed = Remove-Pop3Message @pop -Uid $uids[0], $uids[2] -Confirm:$false -PassThru
        (Get-Uids) | Should -Be @($uids[1], $uids[3])
        $removed.Uid | Should -Be @($uids[0], $uids[2])
        $removed | ForEach-Object { $_.GetType().FullName | Should -Be 'MailProtocols.Engine.Pop3.Pop3Entry' }
        $removed.AuthenticationMechanism | Should -Be @('PLAIN', 'PLAIN')
        $mock.Pop3ConnectionCount | Should -Be 1
        $session = $mock.Pop3Sessions[0]
        $session.Committed | Should -BeTrue
        ($session.Commands | Where-Object { $_ -eq 'QUIT' }).Count | Should -Be 1
        $session.DeletedUids | Should -Be @($uids[0], $uids[2])
    }

    It 'deletes exactly the messages piped from Get-Pop3Message, on a server that locks the mailbox' {
        $mock.Pop3.LockMailbox | Should -BeTrue
        Get-Pop3Message @pop | Where-Object Subject -In 'Test message 2', 'Test message 4' | Remove-Pop3Message @pop -Force
        (Get-Uids) | Should -Be @($uids[0], $uids[2])
        $mock.Pop3Sessions.Count | Should -Be 2
    }

    It 'binds -Uid by property name from any object' {
        [pscustomobject]@{ Uid = $uids[3] } | Remove-Pop3Message @pop -Force
        (Get-Uids) | Should -Be $uids[0..2]
    }

    It 'maps UIDs to current numbers, so changes by another client never cause a wrong deletion' {
        $listed = Get-Pop3Message @pop
        # Another client deletes message 1 and new mail arrives: every number shifts.
        $mock.RemoveMessage('alice', $uids[0])
        $new = $mock.AddTestMessages('alice', 1)
        $listed | Where-Object Uid -EQ $uids[2] | Remove-Pop3Message @pop -Force
        (Get-Uids) | Should -Be @($uids[1], $uids[3], $new[0])
        $mock.Pop3Sessions[-1].Commands | Should -Contain 'DELE 2'
    }

    It 'deletes the right messages on a server that renumbers at DELE' {
        $mock.Pop3.RenumberOnDele = $true
        Remove-Pop3Message @pop -Uid $uids[1], $uids[3] -Force
        (Get-Uids) | Should -Be @($uids[0], $uids[2])
    }

    It 'writes MessageNotFound for an unknown UID and still deletes the others' {
        Remove-Pop3Message @pop -Uid 'gone-uid', $uids[1] -Force -ErrorVariable err -ErrorAction SilentlyContinue
        $err.Count | Should -Be 1
        $err[0].FullyQualifiedErrorId | Should -Be "MessageNotFound$fqid"
        $err[0].CategoryInfo.Category | Should -Be 'ObjectNotFound'
        $err[0].TargetObject | Should -Be 'gone-uid'
        (Get-Uids) | Should -Be @($uids[0], $uids[2], $uids[3])
    }

    It 'changes nothing with -WhatIf, even with -Force' {
        Remove-Pop3Message @pop -Uid $uids -Force -WhatIf
        (Get-Uids) | Should -Be $uids
        $mock.Pop3Sessions[0].Commands | Where-Object { $_ -like 'DELE*' } | Should -BeNullOrEmpty
    }

    It 'honours $WhatIfPreference even with -Force' {
        $WhatIfPreference = $true
        Remove-Pop3Message @pop -Uid $uids[0] -Force
        $WhatIfPreference = $false
        (Get-Uids) | Should -Be $uids
    }

    It 'asks for confirmation (ConfirmImpact High)' {
        $meta = (Get-Command Remove-Pop3Message).ImplementingType.GetCustomAttributes([System.Management.Automation.CmdletAttribute], $false)[0]
        $meta.ConfirmImpact | Should -Be 'High'
        $meta.SupportsShouldProcess | Should -BeTrue
    }

    It 'names the sender and subject of what it would ask to delete, and reads no headers when it will not ask' {
        # A -NonInteractive session cannot prompt: the question it would have asked is in the error.
        $run = Invoke-ScriptTask $mock "Remove-Pop3Message -Pop3Server `$Server -Port `$Pop3Port -SkipCertificateCheck -Credential `$Cred -Uid '$($uids[1])' -Confirm -ErrorVariable ev -ErrorAction SilentlyContinue`n`$ev[0].FullyQualifiedErrorId`n`$ev[0].Exception.Message"
        $run.Lines[0] | Should -Be "ConfirmationRequired$fqid"
        $run.Output | Should -Match ([regex]::Escape("Delete message $($uids[1]) from `"Sender 2`" <sender2@example.com>, 'Test message 2'"))
        (Get-Uids) | Should -Be $uids
        $mock.Reset()
        $uids = $mock.AddTestMessages('alice', 1)
        Remove-Pop3Message @pop -Uid $uids[0] -Force
        $mock.Pop3Sessions[0].Commands | Where-Object { $_ -like 'TOP*' } | Should -BeNullOrEmpty
    }

    It 'refuses a malformed UID before connecting' {
        Remove-Pop3Message @pop -Uid "bad`r`nDELE 1" -Force -ErrorVariable err -ErrorAction SilentlyContinue
        $err[0].FullyQualifiedErrorId | Should -Be "InvalidUid$fqid"
        $mock.Pop3ConnectionCount | Should -Be 0
        (Get-Uids) | Should -Be $uids
    }

    It 'refuses to guess on a server without UIDL' {
        $mock.Pop3.Uidl = $false
        $err = { Remove-Pop3Message @pop -Uid $uids[0] -Force -ErrorAction Stop } | Should -Throw -PassThru
        $err.FullyQualifiedErrorId | Should -Be "UidlNotSupported$fqid"
        (Get-Uids) | Should -Be $uids
    }

    It 'keeps a message whose DELE is refused, deletes the others' {
        $null = $mock.Pop3ReplyTo('DELE', '1', '-ERR cannot delete', 1)
        Remove-Pop3Message @pop -Uid $uids[0], $uids[1] -Force -ErrorVariable err -ErrorAction SilentlyContinue
        $err[0].FullyQualifiedErrorId | Should -Be "DeleteRefused$fqid"
        (Get-Uids) | Should -Be @($uids[0], $uids[2], $uids[3])
    }

    It 'deletes nothing when the connection drops before QUIT' {
        $null = $mock.Pop3CloseOn('QUIT', $null, 1)
        { Remove-Pop3Message @pop -Uid $uids[0] -Force -ErrorAction Stop } | Should -Throw -ErrorId "ConnectionLost$fqid"
        (Get-Uids) | Should -Be $uids
    }

    It 'stops within a second on Ctrl+C and deletes nothing' {
        $null = $mock.Pop3NeverReply('DELE', -1)
        $stop = Measure-Stop -Script {
            param($Port, $Credential, $Uid)
            Remove-Pop3Message -Pop3Server 127.0.0.1 -Port $Port -Credential $Credential -SkipCertificateCheck -TimeoutSec 60 -Uid $Uid -Force
        } -ArgumentList $mock.Pop3Port, $alice, $uids[0] -Until { $mock.Pop3Sessions.Commands -like 'DELE*' }
        $stop.Reached | Should -BeTrue
        $stop.Completed | Should -BeTrue
        $stop.Seconds | Should -BeLessThan 1
        (Get-Uids) | Should -Be $uids
    }
}
