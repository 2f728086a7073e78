// Package faultinject lets kastor's own tests make an actor panic at a chosen moment, to prove that
// supervision loses no record. The hooks exist only in builds with the kastor_faultinject tag (the
// README's test command sets it); in every other build the calls are empty functions the compiler
// removes.
package faultinject
