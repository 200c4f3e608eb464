package agent

import (
	"fmt"

	"golang.org/x/sys/windows"
)

// restrictDir replaces the inherited ACL of dir (under ProgramData, every user may read
// by default) with one that grants full control to SYSTEM, the Administrators group and
// the account running this program, inherited by everything created inside. File modes
// mean nothing on Windows, so this is what keeps the credential private there.
func restrictDir(dir string) error {
	user, err := windows.GetCurrentProcessToken().GetTokenUser()
	if err != nil {
		return fmt.Errorf("current user: %w", err)
	}
	// P: protected, not inheriting from the parent; OICI: inherited by files and folders.
	sddl := fmt.Sprintf("D:P(A;OICI;FA;;;SY)(A;OICI;FA;;;BA)(A;OICI;FA;;;%s)", user.User.Sid.String())
	sd, err := windows.SecurityDescriptorFromString(sddl)
	if err != nil {
		return err
	}
	dacl, _, err := sd.DACL()
	if err != nil {
		return err
	}
	return windows.SetNamedSecurityInfo(dir, windows.SE_FILE_OBJECT,
		windows.DACL_SECURITY_INFORMATION|windows.PROTECTED_DACL_SECURITY_INFORMATION, nil, nil, dacl, nil)
}
