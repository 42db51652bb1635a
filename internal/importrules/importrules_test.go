package importrules

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

// The repository keeps its import rules.
func TestRepositoryKeepsImportRules(t *testing.T) {
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		t.Fatalf("module root not found at %s: %v", root, err)
	}
	broken, err := Check(root)
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range broken {
		t.Error(b)
	}
}

// The check catches planted violations and lets the allowed imports be.
func TestCheckFindsPlantedViolations(t *testing.T) {
	root := t.TempDir()
	files := map[string]string{
		"go.mod": "module gaspay\n",
		// Violations.
		"handlers/orders.go":   "package handlers\n\nimport \"gaspay/models\"\n\nvar _ models.X\n",
		"console/store.go":     "package console\n\nimport (\n\t\"fmt\"\n\n\t\"gorm.io/gorm\"\n)\n",
		"recharge/x_test.go":   "package recharge\n\nimport \"gorm.io/gorm/clause\"\n",
		"customer/sub/deep.go": "package sub\n\nimport \"gorm.io/driver/mysql\"\n",
		"iot/store.go":         "package iot\n\nimport \"gorm.io/gorm\"\n",
		// Allowed.
		"handlers/orders_test.go":  "package handlers\n\nimport \"gaspay/models\"\n",
		"handlers/views.go":        "package handlers\n\nimport \"gaspay/recharge\"\n",
		"models/store.go":          "package models\n\nimport \"gorm.io/gorm\"\n",
		"cmd/tool/main.go":         "package main\n\nimport \"gorm.io/gorm\"\n",
		"internal/testenv/db.go":   "package testenv\n\nimport \"gorm.io/gorm\"\n",
		"recharge/orders.go":       "package recharge\n\nimport \"gaspay/models\"\n",
		"testdata/handlers/bad.go": "package handlers\n\nimport \"gorm.io/gorm\"\n",
	}
	for name, body := range files {
		p := filepath.Join(root, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := Check(root)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"console/store.go imports gorm.io/gorm: only models (and cmd, internal) may use gorm",
		"customer/sub/deep.go imports gorm.io/driver/mysql: only models (and cmd, internal) may use gorm",
		"handlers/orders.go imports gaspay/models: handlers reaches storage through the domain packages",
		"iot/store.go imports gorm.io/gorm: only models (and cmd, internal) may use gorm",
		"recharge/x_test.go imports gorm.io/gorm/clause: only models (and cmd, internal) may use gorm",
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Check found\n%q\nwant\n%q", got, want)
	}
}
